//go:build tools

// Package tools pins nats-server.
package tools

import _ "github.com/nats-io/nats-server/v2"
