//! A lower bound on what any plan for a set of pods costs per hour: the linear relaxation of
//! "buy instances whose allocatable CPU and memory cover the pods' requests".
//!
//! Pods can only use allocatable (capacity less the kubelet's reservations and eviction
//! threshold), and a real plan must cover CPU and memory at the same time with whole instances,
//! so this bound is never above the cost of a plan, and it is tighter than pricing each resource
//! on its own cheapest type: a type cheap per vCPU but short of memory has to be topped up with
//! another. A linear programme with two constraints has an optimum that uses at most two types,
//! so trying every type alone and every pair of types finds it exactly.

use karpenter_core::scheduling::{InstanceType, SchedulingInput};

/// What one type offers for the bound: its cheapest available price and its allocatable.
struct Buyable {
    price: f64,
    cpu: f64,
    gib: f64,
}

/// The cheapest cost per hour of covering the requests of `input.pods` with fractional
/// instances of `input.instance_types` (any available offering). Infinity when nothing offered
/// has room.
pub fn lower_bound(input: &SchedulingInput) -> f64 {
    let (mut cpu, mut gib) = (0.0, 0.0);
    for p in &input.pods {
        if let Ok(r) = p.requests() {
            cpu += r.cpu_millis as f64 / 1000.0;
            gib += r.memory_bytes as f64 / f64::from(1u32 << 30);
        }
    }
    relaxed_cost(&options(&input.instance_types), cpu, gib)
}

fn options(types: &[InstanceType]) -> Vec<Buyable> {
    types
        .iter()
        .filter_map(|t| {
            let price = t
                .offerings
                .iter()
                .filter(|o| o.available)
                .map(|o| o.price)
                .fold(f64::INFINITY, f64::min);
            let a = t.allocatable();
            let option = Buyable {
                price,
                cpu: a.cpu_millis as f64 / 1000.0,
                gib: a.memory_bytes as f64 / f64::from(1u32 << 30),
            };
            (price.is_finite() && (option.cpu > 0.0 || option.gib > 0.0)).then_some(option)
        })
        .collect()
}

/// min sum(price_i * x_i) subject to sum(cpu_i * x_i) >= cpu, sum(gib_i * x_i) >= gib, x >= 0.
fn relaxed_cost(options: &[Buyable], cpu: f64, gib: f64) -> f64 {
    if cpu <= 0.0 && gib <= 0.0 {
        return 0.0;
    }
    let mut best = f64::INFINITY;
    for o in options {
        // One type alone: as many as the scarcer resource needs.
        let need = |have: f64, want: f64| {
            if want <= 0.0 {
                0.0
            } else if have > 0.0 {
                want / have
            } else {
                f64::INFINITY
            }
        };
        best = best.min(o.price * need(o.cpu, cpu).max(need(o.gib, gib)));
    }
    for (i, a) in options.iter().enumerate() {
        for b in &options[i + 1..] {
            // Both constraints tight: a.cpu x + b.cpu y = cpu, a.gib x + b.gib y = gib.
            let det = a.cpu * b.gib - b.cpu * a.gib;
            if det.abs() < 1e-12 {
                continue;
            }
            let x = (cpu * b.gib - b.cpu * gib) / det;
            let y = (a.cpu * gib - cpu * a.gib) / det;
            if x >= 0.0 && y >= 0.0 {
                best = best.min(a.price * x + b.price * y);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(price: f64, cpu: f64, gib: f64) -> Buyable {
        Buyable { price, cpu, gib }
    }

    #[test]
    fn one_type_is_bought_for_the_scarcer_resource() {
        // 10 vCPU and 10 GiB on a 2 vCPU / 4 GiB type: CPU binds, 5 instances.
        let cost = relaxed_cost(&[option(1.0, 2.0, 4.0)], 10.0, 10.0);
        assert!((cost - 5.0).abs() < 1e-9);
    }

    #[test]
    fn a_mix_of_two_types_beats_either_alone() {
        // CPU-heavy (2 vCPU, 2 GiB, $1) and memory-heavy (2 vCPU, 8 GiB, $1.5) for 10 vCPU and
        // 25 GiB: alone they cost $12.5 and $7.5; the mix 2.5 + 2.5 instances costs $6.25.
        let options = [option(1.0, 2.0, 2.0), option(1.5, 2.0, 8.0)];
        let cost = relaxed_cost(&options, 10.0, 25.0);
        assert!((cost - 6.25).abs() < 1e-9, "{cost}");
    }

    #[test]
    fn the_bound_is_not_above_the_per_resource_bound_of_any_single_type() {
        let options = [
            option(0.17, 3.92, 6.4),
            option(0.384, 7.9, 28.6),
            option(0.126, 1.9, 14.1),
        ];
        let cost = relaxed_cost(&options, 117.3, 255.0);
        for o in &options {
            assert!(cost <= o.price * (117.3 / o.cpu).max(255.0 / o.gib) + 1e-9);
        }
        // and never below pricing each resource at its cheapest rate
        let per_cpu = options
            .iter()
            .map(|o| o.price / o.cpu)
            .fold(f64::INFINITY, f64::min);
        let per_gib = options
            .iter()
            .map(|o| o.price / o.gib)
            .fold(f64::INFINITY, f64::min);
        assert!(cost >= (117.3 * per_cpu).max(255.0 * per_gib) - 1e-9);
    }

    #[test]
    fn nothing_requested_costs_nothing_and_nothing_offered_is_infinite() {
        assert_eq!(relaxed_cost(&[option(1.0, 2.0, 4.0)], 0.0, 0.0), 0.0);
        assert!(relaxed_cost(&[], 1.0, 1.0).is_infinite());
    }
}
