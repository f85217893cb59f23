//go:build tools

// Package tools pins the ec2-metadata-mock command so `go mod tidy` keeps it in go.sum.
package tools

import _ "github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock"
