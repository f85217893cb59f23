//! Consolidation: which nodes can go, or be replaced by something cheaper, with every pod still
//! having a place. Decided on the scheduler's own simulation, before anything is touched:
//!
//! 1. Empty candidates are deleted.
//! 2. As many candidates as possible (cheapest to move first, at most the budget) are deleted
//!    together when their pods fit on the nodes that stay, or replaced together by one new node
//!    that costs less than they do together.
//! 3. Else one candidate is replaced by one new, cheaper node when its pods fit on the rest plus
//!    that node, the most expensive candidates tried first.
//!
//! A replacement's choice of types is narrowed to those cheaper than what it replaces. Spot is
//! replaced by spot only when at least `min_spot_types` such types fit, so consolidation does
//! not chase the single cheapest (and most interrupted) pool.
//!
//! What may be a candidate (consolidation on, nothing blocking disruption, stable for a while) and
//! the budget are the caller's business; so is checking again, just before acting, that the same
//! decision still holds.

use crate::api::Taint;
use crate::scheduling::{ExistingNode, NewNode, Pod, SchedulingInput, SolveError, solve};

/// Karpenter's rule: a spot node is replaced by spot only with this many cheaper spot types.
pub const MIN_SPOT_TYPES: usize = 15;
/// Candidates tried for a replacement per decision, most expensive first: each try is one solve.
pub const MAX_REPLACEMENT_TRIES: usize = 20;

/// A node consolidation may remove.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Its name in `Input::cluster.nodes`.
    pub node: String,
    /// Hourly price of its instance.
    pub price: f64,
    /// "spot" or "on-demand".
    pub capacity_type: String,
    /// The pods that would have to move: not DaemonSet, mirror or finished pods.
    pub pods: Vec<Pod>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Input {
    /// Provisioners, instance types and DaemonSets as for provisioning; `nodes` are every node
    /// that can take pods (candidates included), with the pods bound to them; `pods` is ignored.
    pub cluster: SchedulingInput,
    pub candidates: Vec<Candidate>,
    /// How many nodes may be disrupted now (what the budgets leave).
    pub max_disruptions: usize,
    pub min_spot_types: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Nothing,
    /// Delete these nodes: their pods (if any) fit on the nodes that stay.
    Delete {
        nodes: Vec<String>,
        /// "empty" or "underutilized".
        reason: &'static str,
        savings_per_hour: f64,
    },
    /// Launch `with`, then delete `nodes`: their pods fit on the rest plus `with`.
    Replace {
        nodes: Vec<String>,
        with: Box<NewNode>,
        savings_per_hour: f64,
    },
}

impl Decision {
    /// The nodes the decision disrupts.
    pub fn nodes(&self) -> &[String] {
        match self {
            Decision::Nothing => &[],
            Decision::Delete { nodes, .. } | Decision::Replace { nodes, .. } => nodes,
        }
    }
}

pub fn decide(input: &Input) -> Result<Decision, SolveError> {
    if input.max_disruptions == 0 || input.candidates.is_empty() {
        return Ok(Decision::Nothing);
    }
    let empty: Vec<&Candidate> = input
        .candidates
        .iter()
        .filter(|c| c.pods.is_empty())
        .take(input.max_disruptions)
        .collect();
    if !empty.is_empty() {
        return Ok(Decision::Delete {
            nodes: empty.iter().map(|c| c.node.clone()).collect(),
            reason: "empty",
            savings_per_hour: empty.iter().map(|c| c.price).sum(),
        });
    }
    if let Some(d) = several(input)? {
        return Ok(d);
    }
    replace_one(input)
}

/// Cheapest to move first: fewest pods, then the most expensive to keep.
fn by_disruption_cost(candidates: &[Candidate]) -> Vec<&Candidate> {
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    order.sort_by(|a, b| {
        a.pods
            .len()
            .cmp(&b.pods.len())
            .then(b.price.total_cmp(&a.price))
            .then(a.node.cmp(&b.node))
    });
    order
}

/// The largest prefix (binary search; what fits is close enough to monotonic in the prefix
/// length) that can be deleted, or replaced by one cheaper node.
fn several(input: &Input) -> Result<Option<Decision>, SolveError> {
    let order = by_disruption_cost(&input.candidates);
    let most = order.len().min(input.max_disruptions);
    let (mut lo, mut hi) = (0, most);
    let mut best = None;
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        match remove(input, &order[..mid])? {
            Some(d) => {
                lo = mid;
                best = Some(d);
            }
            None => hi = mid - 1,
        }
    }
    // The last success is the largest prefix that works: every later try was longer and failed.
    Ok(best)
}

/// Put on every staying node when the moved pods must all fit on new nodes; no pod tolerates it
/// (one tolerating every taint excepted, as it would in the cluster too).
const NO_ROOM_TAINT: &str = "karpenter.sh/consolidation-no-room";

/// The problem of re-placing `leaving`'s pods on every other node (or, with `room_on_the_rest`
/// false, only on new nodes: the others still count for topology), with or without new nodes.
fn without(
    input: &Input,
    leaving: &[&Candidate],
    new_nodes_allowed: bool,
    room_on_the_rest: bool,
) -> SchedulingInput {
    let gone = |n: &ExistingNode| leaving.iter().any(|c| c.node == n.name);
    let c = &input.cluster;
    SchedulingInput {
        provisioners: if new_nodes_allowed {
            c.provisioners.clone()
        } else {
            Vec::new()
        },
        instance_types: if new_nodes_allowed {
            c.instance_types.clone()
        } else {
            Vec::new()
        },
        nodes: c
            .nodes
            .iter()
            .filter(|n| !gone(n))
            .map(|n| {
                let mut n = n.clone();
                if !room_on_the_rest {
                    n.taints.push(Taint::new(NO_ROOM_TAINT, None, "NoSchedule"));
                }
                n
            })
            .collect(),
        daemonsets: c.daemonsets.clone(),
        pods: leaving
            .iter()
            .flat_map(|c| c.pods.iter().cloned())
            .collect(),
    }
}

/// Deleting `leaving` (their pods fit on the rest), else replacing them with one node cheaper
/// than they are together; None when neither works.
fn remove(input: &Input, leaving: &[&Candidate]) -> Result<Option<Decision>, SolveError> {
    let names = || leaving.iter().map(|c| c.node.clone()).collect::<Vec<_>>();
    let price: f64 = leaving.iter().map(|c| c.price).sum();
    let mut plan = solve(&without(input, leaving, true, true))?;
    if !plan.unschedulable.is_empty() {
        return Ok(None);
    }
    // The kube-scheduler, not this plan, places the evicted pods, and it favours the emptiest
    // node: the replacement. A pod the plan meant for a node that stays may land there first and
    // leave a pod meant for the replacement without room (a second launch, which the next round
    // consolidates again, and so on). So the replacement also holds the largest such pod.
    if let [new] = plan.new_nodes.as_slice()
        && !plan.existing.is_empty()
    {
        let moved: Vec<&Pod> = leaving.iter().flat_map(|c| c.pods.iter()).collect();
        let size = |i: &&usize| {
            moved
                .get(**i)
                .and_then(|p| p.requests().ok())
                .map(|r| (r.cpu_millis, r.memory_bytes))
        };
        let largest = plan
            .existing
            .iter()
            .flat_map(|e| e.pods.iter())
            .max_by_key(size);
        let mut alone = without(input, leaving, true, false);
        alone.pods = new
            .pods
            .iter()
            .chain(largest)
            .filter_map(|&i| moved.get(i).map(|p| (*p).clone()))
            .collect();
        plan = solve(&alone)?;
        if !plan.unschedulable.is_empty() {
            return Ok(None);
        }
    }
    let mut new_nodes = plan.new_nodes.into_iter();
    let mut with = match (new_nodes.next(), new_nodes.next()) {
        // The scheduler fills existing nodes before it adds any: they hold every pod.
        (None, _) => {
            return Ok(Some(Decision::Delete {
                nodes: names(),
                reason: "underutilized",
                savings_per_hour: price,
            }));
        }
        (Some(with), None) => with,
        (Some(_), Some(_)) => return Ok(None),
    };
    with.instance_types.retain(|t| t.price < price);
    let spot_to_spot =
        with.capacity_type == "spot" && leaving.iter().all(|c| c.capacity_type == "spot");
    let enough = if spot_to_spot {
        with.instance_types.len() >= input.min_spot_types
    } else {
        !with.instance_types.is_empty()
    };
    Ok(enough.then(|| Decision::Replace {
        nodes: names(),
        savings_per_hour: price - with.price(),
        with: Box::new(with),
    }))
}

fn replace_one(input: &Input) -> Result<Decision, SolveError> {
    let mut order: Vec<&Candidate> = input.candidates.iter().collect();
    order.sort_by(|a, b| b.price.total_cmp(&a.price).then(a.node.cmp(&b.node)));
    for candidate in order.into_iter().take(MAX_REPLACEMENT_TRIES) {
        if let Some(d @ Decision::Replace { .. }) = remove(input, &[candidate])? {
            return Ok(d);
        }
    }
    Ok(Decision::Nothing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{NodeSelectorRequirement, Operator, Provisioner, ProvisionerSpec, labels};
    use crate::scheduling::InstanceType;
    use crate::scheduling::check::verify;
    use proptest::prelude::*;

    const ZONES: [&str; 2] = ["z-a", "z-b"];

    fn provisioner() -> Provisioner {
        Provisioner::new(
            "default",
            ProvisionerSpec {
                requirements: vec![NodeSelectorRequirement::new(
                    labels::CAPACITY_TYPE,
                    Operator::In,
                    &["spot", "on-demand"],
                )],
                ..ProvisionerSpec::default()
            },
        )
    }

    /// `n` sizes of one family: 2, 4, 8, ... vCPUs, 4 GiB each, priced by size.
    fn catalog(families: &[&str]) -> Vec<InstanceType> {
        let mut out = Vec::new();
        for (f, family) in families.iter().enumerate() {
            for (size, cpus) in [("large", 2u32), ("xlarge", 4), ("2xlarge", 8)] {
                let od = f64::from(cpus) * (0.05 + 0.001 * f as f64);
                out.push(
                    InstanceType::named(&format!("{family}.{size}"), cpus, u64::from(cpus) * 4096)
                        .offered_in(&ZONES, od * 0.3, od),
                );
            }
        }
        out
    }

    fn node(name: &str, cpu: &str, mem: &str, capacity_type: &str, pods: &[Pod]) -> ExistingNode {
        pods.iter().fold(
            ExistingNode::named(name, "z-a", cpu, mem)
                .label(labels::CAPACITY_TYPE, capacity_type)
                .label(labels::PROVISIONER_NAME, "default"),
            |n, p| n.running(p.clone()),
        )
    }

    fn pod(name: &str, cpu: &str) -> Pod {
        Pod::named(name).requesting(cpu, "256Mi")
    }

    fn candidate(n: &ExistingNode, price: f64, capacity_type: &str) -> Candidate {
        Candidate {
            node: n.name.clone(),
            price,
            capacity_type: capacity_type.into(),
            pods: n.pods.clone(),
        }
    }

    fn input(
        nodes: Vec<(ExistingNode, f64, &str)>,
        types: Vec<InstanceType>,
        budget: usize,
    ) -> Input {
        Input {
            candidates: nodes
                .iter()
                .map(|(n, p, ct)| candidate(n, *p, ct))
                .collect(),
            cluster: SchedulingInput {
                provisioners: vec![provisioner()],
                instance_types: types,
                nodes: nodes.into_iter().map(|(n, _, _)| n).collect(),
                ..SchedulingInput::default()
            },
            max_disruptions: budget,
            min_spot_types: MIN_SPOT_TYPES,
        }
    }

    #[test]
    fn empty_nodes_go_first_and_no_more_than_the_budget() -> Result<(), SolveError> {
        let nodes = (0..3)
            .map(|i| {
                (
                    node(&format!("n{i}"), "2", "8Gi", "on-demand", &[]),
                    0.1,
                    "on-demand",
                )
            })
            .collect();
        let d = decide(&input(nodes, catalog(&["m5"]), 2))?;
        assert_eq!(
            d,
            Decision::Delete {
                nodes: vec!["n0".into(), "n1".into()],
                reason: "empty",
                savings_per_hour: 0.2
            }
        );
        Ok(())
    }

    #[test]
    fn underused_nodes_whose_pods_fit_elsewhere_are_deleted_together() -> Result<(), SolveError> {
        let big = node("big", "8", "32Gi", "on-demand", &[pod("a", "1")]);
        let small1 = node("s1", "2", "8Gi", "on-demand", &[pod("b", "500m")]);
        let small2 = node("s2", "2", "8Gi", "on-demand", &[pod("c", "500m")]);
        let nodes = vec![
            (big, 0.4, "on-demand"),
            (small1, 0.1, "on-demand"),
            (small2, 0.1, "on-demand"),
        ];
        let d = decide(&input(nodes.clone(), catalog(&["m5"]), 10))?;
        let Decision::Delete {
            nodes: gone,
            reason,
            ..
        } = d
        else {
            panic!("expected a delete, got {d:?}");
        };
        assert_eq!(reason, "underutilized");
        assert_eq!(
            gone.len(),
            2,
            "{gone:?}: two of the three go, the pods fit on the third"
        );
        let d = decide(&input(nodes, catalog(&["m5"]), 1))?;
        assert!(
            matches!(d, Decision::Delete { ref nodes, .. } if nodes.len() == 1),
            "{d:?}"
        );
        Ok(())
    }

    #[test]
    fn an_oversized_on_demand_node_is_replaced_by_a_cheaper_one() -> Result<(), SolveError> {
        let n = node(
            "n",
            "8",
            "32Gi",
            "on-demand",
            &[pod("a", "1"), pod("b", "500m")],
        );
        let d = decide(&input(vec![(n, 0.4, "on-demand")], catalog(&["m5"]), 1))?;
        let Decision::Replace {
            nodes,
            with,
            savings_per_hour,
        } = d
        else {
            panic!("expected a replacement, got {d:?}");
        };
        assert_eq!(nodes, ["n"]);
        assert!(with.instance_types.iter().all(|t| t.price < 0.4));
        assert!(savings_per_hour > 0.0);
        assert_eq!(with.pods.len(), 2);
        Ok(())
    }

    #[test]
    fn a_replacement_also_holds_the_largest_pod_meant_for_a_node_that_stays()
    -> Result<(), SolveError> {
        // One of the two pods fits on `rest`; the replacement is still sized for both, since the
        // kube-scheduler may put the one meant for `rest` on the (emptier) replacement first.
        let rest = node("rest", "4", "16Gi", "on-demand", &[pod("x", "2200m")]);
        let a = node("a", "2", "8Gi", "on-demand", &[pod("p", "1500m")]);
        let b = node("b", "2", "8Gi", "on-demand", &[pod("q", "1500m")]);
        let nodes = vec![
            (rest, 1.0, "on-demand"),
            (a, 0.2, "on-demand"),
            (b, 0.2, "on-demand"),
        ];
        let mut problem = input(nodes, catalog(&["m5"]), 2);
        problem.candidates.retain(|c| c.node != "rest");
        let d = decide(&problem)?;
        let Decision::Replace { nodes, with, .. } = d else {
            panic!("expected a replacement, got {d:?}");
        };
        assert_eq!(nodes, ["a", "b"]);
        assert_eq!(with.pods.len(), 2, "{with:?}");
        assert_eq!(&*with.instance_types[0].name, "m5.xlarge");
        Ok(())
    }

    #[test]
    fn several_nodes_are_replaced_by_one_cheaper_than_them_together() -> Result<(), SolveError> {
        // Three full 2-vCPU nodes of a dear type: no pod fits on another, one node holds all.
        let nodes: Vec<_> = (0..3)
            .map(|i| {
                let n = node(
                    &format!("n{i}"),
                    "2",
                    "8Gi",
                    "on-demand",
                    &[pod(&format!("p{i}"), "1200m")],
                );
                (n, 0.2, "on-demand")
            })
            .collect();
        let d = decide(&input(nodes.clone(), catalog(&["m5"]), 3))?;
        let Decision::Replace {
            nodes: gone,
            with,
            savings_per_hour,
        } = d
        else {
            panic!("expected a replacement, got {d:?}");
        };
        assert_eq!(gone.len(), 3, "{gone:?}");
        assert_eq!(with.pods.len(), 3);
        assert!(with.instance_types.iter().all(|t| t.price < 0.6));
        assert!(savings_per_hour > 0.0);
        // A budget of 2 replaces two of them at most.
        let d = decide(&input(nodes, catalog(&["m5"]), 2))?;
        assert!(d.nodes().len() <= 2 && !d.nodes().is_empty(), "{d:?}");
        Ok(())
    }

    #[test]
    fn spot_is_replaced_by_spot_only_with_enough_cheaper_types() -> Result<(), SolveError> {
        let n = node("n", "8", "32Gi", "spot", &[pod("a", "1")]);
        let few = decide(&input(
            vec![(n.clone(), 0.2, "spot")],
            catalog(&["m5", "c5"]),
            1,
        ))?;
        assert_eq!(
            few,
            Decision::Nothing,
            "2 families give too few cheaper spot types"
        );
        // The replacement's options are the sizes that hold the pods without growing past the
        // one picked: one size per family here, so 16 families give 16 spot types.
        let families: Vec<String> = (0..16).map(|i| format!("f{i}")).collect();
        let names: Vec<&str> = families.iter().map(String::as_str).collect();
        let many = decide(&input(vec![(n, 0.2, "spot")], catalog(&names), 1))?;
        let Decision::Replace { with, .. } = many else {
            panic!("expected a replacement, got {many:?}");
        };
        assert!(with.instance_types.len() >= MIN_SPOT_TYPES);
        Ok(())
    }

    #[test]
    fn a_node_already_on_the_cheapest_type_that_holds_its_pods_stays() -> Result<(), SolveError> {
        let n = node("n", "2", "8Gi", "spot", &[pod("a", "1500m")]);
        let spot_large = 2.0 * 0.05 * 0.3;
        let d = decide(&input(vec![(n, spot_large, "spot")], catalog(&["m5"]), 1))?;
        assert_eq!(d, Decision::Nothing);
        Ok(())
    }

    #[test]
    fn on_demand_is_replaced_by_spot_when_the_provisioner_allows_it() -> Result<(), SolveError> {
        let n = node("n", "2", "8Gi", "on-demand", &[pod("a", "1500m")]);
        let d = decide(&input(vec![(n, 0.1, "on-demand")], catalog(&["m5"]), 1))?;
        let Decision::Replace { with, .. } = d else {
            panic!("expected a replacement, got {d:?}");
        };
        assert_eq!(with.capacity_type, "spot");
        Ok(())
    }

    fn cluster() -> impl Strategy<Value = (Vec<(ExistingNode, f64, &'static str)>, usize)> {
        let one = (
            prop::collection::vec(1u32..16, 0..5),
            0usize..3,
            any::<bool>(),
        );
        (prop::collection::vec(one, 1..8), 0usize..4).prop_map(|(nodes, budget)| {
            let nodes = nodes
                .into_iter()
                .enumerate()
                .map(|(i, (cpus, size, spot))| {
                    let (alloc, price) = [("2", 0.1), ("4", 0.2), ("8", 0.4)][size];
                    let pods: Vec<Pod> = cpus
                        .iter()
                        .enumerate()
                        .map(|(j, c)| pod(&format!("p{i}-{j}"), &format!("{}m", c * 100)))
                        .collect();
                    let ct = if spot { "spot" } else { "on-demand" };
                    (node(&format!("n{i}"), alloc, "32Gi", ct, &pods), price, ct)
                })
                .collect();
            (nodes, budget)
        })
    }

    proptest! {
        #[test]
        fn a_decision_never_leaves_a_pod_without_a_node_nor_exceeds_the_budget(
            (nodes, budget) in cluster()
        ) {
            let input = input(nodes, catalog(&["m5", "c5"]), budget);
            let decision = decide(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (leaving, new_allowed): (Vec<&Candidate>, bool) = match &decision {
                Decision::Nothing => return Ok(()),
                Decision::Delete { nodes, .. } => {
                    prop_assert!(nodes.len() <= budget);
                    (input.candidates.iter().filter(|c| nodes.contains(&c.node)).collect(), false)
                }
                Decision::Replace { nodes, with, .. } => {
                    prop_assert!(nodes.len() <= budget);
                    let leaving: Vec<&Candidate> =
                        input.candidates.iter().filter(|c| nodes.contains(&c.node)).collect();
                    prop_assert_eq!(leaving.len(), nodes.len());
                    let price: f64 = leaving.iter().map(|c| c.price).sum();
                    prop_assert!(with.instance_types.iter().all(|t| t.price < price));
                    (leaving, true)
                }
            };
            let problem = without(&input, &leaving, new_allowed, true);
            let plan = solve(&problem).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(plan.unschedulable.is_empty());
            prop_assert!(plan.new_nodes.len() <= usize::from(new_allowed));
            let errors = verify(&problem, &plan);
            prop_assert!(errors.is_empty(), "{:?}", errors);
        }
    }
}
