//! The scheduling benchmark (`make bench`): one line per size,
//! `bench scheduling pods=N pods_per_sec=... nodes=... cost_per_hour=... lower_bound_per_hour=... peak_rss_mib=...`.
//!
//! Usage:
//!   scheduling-bench write-input PATH [--seed S] [--pods N]   write the default input (JSON)
//!   scheduling-bench run [--input PATH] [--sizes 1,100,...]   run every size, one process each
//!   scheduling-bench one --input PATH --pods N [--summary]    run one size (what `run` spawns);
//!                                                             --summary prints nodes per type
//!   scheduling-bench fresh --input PATH                      solve every pod of a file once; prints
//!                                                             `fresh nodes=.. cost_per_hour=..
//!                                                             lower_bound_per_hour=.. unschedulable=..`
//!   scheduling-bench consolidation [--pods N]                 the consolidation decision alone on
//!                                                             the cluster N pods build, after two
//!                                                             thirds of them leave
//!
//! Each size runs in its own process so that peak RSS (VmHWM) belongs to that size alone.
//! The input format is documented in docs/benchmarks/scheduling-input.md.

mod bound;
mod generate;
mod prefix;

use karpenter_core::scheduling::{Plan, SchedulingInput, check::verify, solve};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const DEFAULT_SIZES: [usize; 6] = [1, 100, 1000, 5000, 10000, 20000];
/// Plans up to this many pods are also run through the (quadratic) independent checker.
const VERIFY_UP_TO: usize = 1000;

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("write-input") => write_input(&args[2..]),
        Some("run") => run(&args[2..]),
        Some("one") => one(&args[2..]),
        Some("fresh") => fresh(&args[2..]),
        Some("consolidation") => consolidation(&args[2..]),
        _ => Err("usage: scheduling-bench write-input PATH | run [--input PATH] [--sizes LIST] | one --input PATH --pods N".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scheduling-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn write_input(args: &[String]) -> Result<(), Error> {
    let path = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .ok_or("write-input needs a PATH")?;
    let seed = flag(args, "--seed")
        .map(str::parse)
        .transpose()?
        .unwrap_or(generate::DEFAULT_SEED);
    let pods = flag(args, "--pods")
        .map(str::parse)
        .transpose()?
        .unwrap_or(20_000);
    let input = generate::default_input(seed, pods);
    std::fs::write(path, serde_json::to_vec(&input)?)?;
    eprintln!(
        "wrote {path}: {} instance types, {} pods, seed {seed:#x}",
        input.instance_types.len(),
        pods
    );
    Ok(())
}

fn run(args: &[String]) -> Result<(), Error> {
    let sizes: Vec<usize> = match flag(args, "--sizes") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => DEFAULT_SIZES.to_vec(),
    };
    let generated;
    let input_path = match flag(args, "--input") {
        Some(p) => p.to_string(),
        None => {
            let largest = sizes.iter().copied().max().unwrap_or(0);
            let path =
                std::env::temp_dir().join(format!("scheduling-bench-{}.json", std::process::id()));
            let input = generate::default_input(generate::DEFAULT_SEED, largest);
            std::fs::write(&path, serde_json::to_vec(&input)?)?;
            generated = path;
            generated.to_string_lossy().into_owned()
        }
    };
    let me = std::env::current_exe()?;
    let mut failed = false;
    for n in sizes {
        let out = Command::new(&me)
            .args(["one", "--input", &input_path, "--pods", &n.to_string()])
            .output()?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        failed |= !out.status.success();
    }
    if flag(args, "--input").is_none() {
        let _ = std::fs::remove_file(&input_path);
    }
    if failed {
        Err("a size failed".into())
    } else {
        Ok(())
    }
}

fn one(args: &[String]) -> Result<(), Error> {
    let path = flag(args, "--input").ok_or("one needs --input PATH")?;
    let n: usize = flag(args, "--pods").ok_or("one needs --pods N")?.parse()?;
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let input = prefix::read(file, n)?;
    if input.pods.len() < n {
        return Err(format!("{path} holds {} pods, {n} asked", input.pods.len()).into());
    }

    // Small sizes repeat until the timing is stable; the plan is the same every time.
    let mut runs = 0u32;
    let mut spent = Duration::ZERO;
    let mut plan = Plan::default();
    while runs == 0 || (spent < Duration::from_millis(500) && runs < 1000) {
        // Drop the previous plan first so that peak RSS holds one plan, not two.
        drop(std::mem::take(&mut plan));
        let start = Instant::now();
        plan = solve(&input)?;
        spent += start.elapsed();
        runs += 1;
    }
    let per_run = spent.as_secs_f64() / f64::from(runs);
    if n <= VERIFY_UP_TO {
        let errors = verify(&input, &plan);
        if !errors.is_empty() {
            return Err(format!("plan for {n} pods breaks rules: {errors:?}").into());
        }
    }
    if args.iter().any(|a| a == "--summary") {
        summarize(&plan);
    }
    if !plan.unschedulable.is_empty() {
        eprintln!(
            "{n} pods: {} unschedulable, e.g. {}",
            plan.unschedulable.len(),
            plan.unschedulable[0].reason
        );
    }
    println!(
        "bench scheduling pods={n} pods_per_sec={:.0} nodes={} cost_per_hour={:.4} lower_bound_per_hour={:.4} peak_rss_mib={:.1}",
        n as f64 / per_run,
        plan.new_nodes.len(),
        plan.cost_per_hour(),
        bound::lower_bound(&input),
        peak_rss_mib()?
    );
    Ok(())
}

/// A fresh solve of every pod in a file, as a yardstick for a live cluster's nodes: the
/// consolidation bench hands it the pods left after the scale-down.
fn fresh(args: &[String]) -> Result<(), Error> {
    let path = flag(args, "--input").ok_or("fresh needs --input PATH")?;
    let input: SchedulingInput = serde_json::from_slice(&std::fs::read(path)?)?;
    let plan = solve(&input)?;
    let errors = verify(&input, &plan);
    if !errors.is_empty() {
        return Err(format!("plan for {path} breaks rules: {errors:?}").into());
    }
    if let Some(u) = plan.unschedulable.first() {
        eprintln!(
            "{} pods unschedulable, e.g. {}",
            plan.unschedulable.len(),
            u.reason
        );
    }
    println!(
        "fresh nodes={} cost_per_hour={:.4} lower_bound_per_hour={:.4} unschedulable={}",
        plan.new_nodes.len(),
        plan.cost_per_hour(),
        bound::lower_bound(&input),
        plan.unschedulable.len()
    );
    Ok(())
}

/// `bench consolidation_decision nodes=... pods=... seconds=... decision=... savings_per_hour=...`:
/// the cluster the scheduler builds for N pods (each new node becomes a running node of its
/// cheapest type), two thirds of the pods gone (every pod whose index is not a multiple of 3),
/// then one consolidation decision over every node with a budget of 10%. Every node keeps at least
/// one pod, so what is measured is the search for nodes whose pods fit elsewhere, not the empties.
fn consolidation(args: &[String]) -> Result<(), Error> {
    use karpenter_core::api::Quantity;
    use karpenter_core::api::labels;
    use karpenter_core::consolidation::{Candidate, Decision, Input, MIN_SPOT_TYPES, decide};
    use karpenter_core::scheduling::ExistingNode;
    let n: usize = flag(args, "--pods")
        .map(str::parse)
        .transpose()?
        .unwrap_or(5000);
    let mut input = generate::default_input(generate::DEFAULT_SEED, n);
    let plan = solve(&input)?;
    let types: std::collections::HashMap<&str, &karpenter_core::scheduling::InstanceType> = input
        .instance_types
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut nodes = Vec::new();
    let mut candidates = Vec::new();
    for (i, new) in plan.new_nodes.iter().enumerate() {
        let Some(option) = new.instance_types.first() else {
            continue;
        };
        let Some(t) = types.get(&*option.name) else {
            continue;
        };
        let zone = option
            .zones
            .first()
            .map(|z| z.to_string())
            .unwrap_or_default();
        let name = format!("node-{i}");
        let mut node = ExistingNode::named(&name, &zone, "1", "1Gi");
        let alloc = t.allocatable();
        node.allocatable = [
            (
                labels::RESOURCE_CPU.to_string(),
                Quantity::new(format!("{}m", alloc.cpu_millis)),
            ),
            (
                labels::RESOURCE_MEMORY.to_string(),
                Quantity::new(format!("{}", alloc.memory_bytes)),
            ),
            (
                labels::RESOURCE_PODS.to_string(),
                Quantity::new(alloc.pods.to_string()),
            ),
        ]
        .into();
        for key in [
            labels::INSTANCE_TYPE,
            labels::ARCH,
            labels::OS,
            labels::INSTANCE_FAMILY,
            labels::INSTANCE_CATEGORY,
        ] {
            if let Some(v) = t.label(key) {
                node.labels.insert(key.to_string(), v);
            }
        }
        node.labels.extend(new.labels.clone());
        node.labels
            .insert(labels::CAPACITY_TYPE.to_string(), new.capacity_type.clone());
        // Every node keeps at least one pod, so the decision is not the easy "delete the empty".
        let mut kept: Vec<_> = new
            .pods
            .iter()
            .filter(|&&p| p % 3 == 0)
            .map(|&p| input.pods[p].clone())
            .collect();
        if kept.is_empty()
            && let Some(&first) = new.pods.first()
        {
            kept.push(input.pods[first].clone());
        }
        node.pods = kept.clone();
        candidates.push(Candidate {
            node: name,
            price: option.price,
            capacity_type: new.capacity_type.clone(),
            pods: kept,
        });
        nodes.push(node);
    }
    let pods_after: usize = candidates.iter().map(|c| c.pods.len()).sum();
    input.pods.clear();
    input.nodes = nodes;
    let count = input.nodes.len();
    let problem = Input {
        cluster: input,
        candidates,
        max_disruptions: count.div_ceil(10),
        min_spot_types: MIN_SPOT_TYPES,
    };
    let start = Instant::now();
    let decision = decide(&problem)?;
    let seconds = start.elapsed().as_secs_f64();
    let (kind, savings) = match &decision {
        Decision::Nothing => ("nothing".to_string(), 0.0),
        Decision::Delete {
            nodes,
            reason,
            savings_per_hour,
        } => (
            format!("delete:{reason}:{}", nodes.len()),
            *savings_per_hour,
        ),
        Decision::Replace {
            nodes,
            savings_per_hour,
            ..
        } => (format!("replace:{}", nodes.len()), *savings_per_hour),
    };
    println!(
        "bench consolidation_decision nodes={count} pods_before={n} pods={pods_after} seconds={seconds:.3} decision={kind} savings_per_hour={savings:.4}"
    );
    Ok(())
}

/// Nodes per cheapest instance type with their fill, on stderr (`one ... --summary`).
fn summarize(plan: &Plan) {
    let mut by_type: std::collections::BTreeMap<&str, (usize, usize, i64, f64)> =
        Default::default();
    for n in &plan.new_nodes {
        let Some(t) = n.instance_types.first() else {
            continue;
        };
        let e = by_type.entry(&*t.name).or_default();
        e.0 += 1;
        e.1 += n.pods.len();
        e.2 += n.requests.cpu_millis;
        e.3 += t.price;
    }
    for (name, (nodes, pods, cpu, price)) in by_type {
        eprintln!(
            "{name:>14} nodes={nodes:<5} pods/node={:<5.1} cpu/node={:<6.2} $/h={price:.3}",
            pods as f64 / nodes as f64,
            cpu as f64 / 1000.0 / nodes as f64
        );
    }
}

fn peak_rss_mib() -> Result<f64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(kib / 1024.0)
}
