"""The karpenter-rs local environment: a real Kubernetes control plane, the extended AWS emulator,
Terraform and OpenTofu, started on loopback and torn down by PID.

Layout:
- paths:     repository, cache and work directories; building the Go components on demand
- procs:     starting processes with logs and pid files, stopping them, waiting on conditions
- pki:       the certificates and keys a control plane needs
- cluster:   etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK
- aws:       the extended moto server (tests/awsemu)
- terraform: terraform and tofu runs with a dev_overrides CLI config
- envctl:    `python -m harness up|down` behind `make env-up` / `make env-down`
- fixtures:  pytest fixtures over all of the above
"""
