// Package testenv gives tests the privileged environment they need: root,
// BPF, and network namespaces that the test creates and always removes.
//
// Outside CI a test that lacks root skips; under CI=true it fails instead,
// because CI runs as root and a skip there would hide a broken test.
package testenv
