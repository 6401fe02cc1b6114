//go:build !linux

package main

import "syscall"

// childAttr puts a child process in a process group of its own, so that Ctrl-C in the
// terminal reaches only the stack, which stops its children in order. (Only Linux can also
// signal the child when the stack dies.)
func childAttr(syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
