//go:build tools

// Package tools pins the command this module builds so `go mod tidy` keeps it in go.sum.
package tools

import _ "github.com/Shopify/toxiproxy/v2/cmd/server"
