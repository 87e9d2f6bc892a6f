//go:build tools

// Package tools pins the etcd server (package main of go.etcd.io/etcd/server/v3).
package tools

import _ "go.etcd.io/etcd/server/v3"
