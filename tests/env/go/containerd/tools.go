//go:build tools

// Package tools pins the commands this module builds so `go mod tidy` keeps them in go.sum.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
)
