package main

import "syscall"

// childAttr puts a child process in a process group of its own, so that Ctrl-C in the
// terminal reaches only the stack, which stops its children in order; and sends the child
// sig if the stack dies first.
func childAttr(sig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}
