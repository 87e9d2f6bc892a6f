//go:build tools

// Package tools pins velero.
package tools

import _ "github.com/vmware-tanzu/velero/cmd/velero"
