//go:build !linux

package testkit

import "syscall"

// processAlive reports true: without a portable check, leftovers of earlier
// runs are never removed.
func processAlive(int) bool { return true }

// childProcAttr returns nil: only Linux can tie a child's life to its parent.
func childProcAttr() *syscall.SysProcAttr { return nil }
