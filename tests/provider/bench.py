"""`make bench` figures for the provider:
  bench plugin_start handshake_ms=<median of 20> build=<debug|release>
  bench plan resources=1 seconds=...
  bench plan resources=200 seconds=...
Plan timings are the wall time of `terraform plan` (with refresh) over an applied configuration
of that many interruption queues, against the extended AWS emulator (tests/awsemu) on loopback.
Run by tests/bin/bench.sh with the release build: `python provider/bench.py <provider binary>`."""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from awsemu.client import DEFAULT_REGION, Emulator  # noqa: E402
from harness import terraform as tf_harness  # noqa: E402

SOURCE = tf_harness.PROVIDER_SOURCE
REGION = DEFAULT_REGION

COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"


def client_cert_pem():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime

    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA512())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def handshake_ms(binary, runs=20):
    env = dict(os.environ, TF_PLUGIN_MAGIC_COOKIE=COOKIE, PLUGIN_PROTOCOL_VERSIONS="5,6",
               PLUGIN_MIN_PORT="10000", PLUGIN_MAX_PORT="25000", PLUGIN_CLIENT_CERT=client_cert_pem())
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = p.stdout.readline()
        times.append((time.perf_counter() - t0) * 1000)
        p.terminate()
        p.wait(timeout=10)
        if not line.startswith("1|6|tcp|127.0.0.1:"):
            sys.exit(f"bench: unexpected handshake line {line!r}")
    return statistics.median(times)


def plan_seconds(binary, moto_url, n):
    tf = str(tf_harness.terraform_binary())
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "cli.tfrc").write_text(
            f'provider_installation {{\n dev_overrides {{ "{SOURCE}" = "{binary.parent}" }}\n direct {{}}\n}}\n')
        (d / "main.tf").write_text(
            f'terraform {{\n required_providers {{ karpenter = {{ source = "{SOURCE}" }} }}\n}}\n'
            f'provider "karpenter" {{\n region = "{REGION}"\n cluster_name = "bench"\n'
            f' aws {{ endpoint_url = "{moto_url}" }}\n}}\n'
            f'resource "karpenter_interruption_queue" "q" {{\n count = {n}\n name = "bench-${{count.index}}"\n}}\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}
        env.update(TF_CLI_CONFIG_FILE=str(d / "cli.tfrc"), CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1",
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_EC2_METADATA_DISABLED="true")
        run = lambda *a: subprocess.run([tf, *a, "-no-color"], cwd=d, env=env, capture_output=True, text=True, check=True)
        run("apply", "-auto-approve")
        t0 = time.perf_counter()
        run("plan")
        secs = time.perf_counter() - t0
        run("destroy", "-auto-approve")
        return secs


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench.py PATH/TO/terraform-provider-karpenter")
    binary = Path(sys.argv[1]).resolve()
    profile = binary.parent.name
    print(f"bench plugin_start handshake_ms={handshake_ms(binary):.1f} build={profile}", flush=True)
    emulator = Emulator.start(region=REGION)
    try:
        for n in (1, 200):
            print(f"bench plan resources={n} seconds={plan_seconds(binary, emulator.endpoint, n):.2f} build={profile}",
                  flush=True)
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
