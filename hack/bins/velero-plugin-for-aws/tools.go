//go:build tools

// Package tools pins velero-plugin-for-aws.
package tools

import _ "github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws"
