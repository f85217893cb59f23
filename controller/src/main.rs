fn main() {
    eprintln!("karpenter-controller: not built yet");
    std::process::exit(2);
}
