//go:build tools

// Package tools pins the Prometheus commands this wrapper module builds; the build tag keeps it out of builds.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
