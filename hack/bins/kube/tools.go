//go:build tools

// Package tools pins the Kubernetes commands this wrapper module builds; the build tag keeps it out of builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
