//go:build tools

// Package tools pins the tofu command so `go mod tidy` keeps it in go.sum.
package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"
