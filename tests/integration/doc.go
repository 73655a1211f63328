// Package integration holds the tests that build real process trees in
// fresh pid namespaces and checkpoint them with every backend the machine
// offers: bpf and procfs on a host, and the module too in the VM. They
// need root; "make integration" runs them on the host and "make vmtest"
// in the guest.
package integration
