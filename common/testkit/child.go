package testkit

import (
	"fmt"
	"os"
	"os/exec"
)

// child is a server process of the test's own (redis-server, nats-server), its output
// appended to a log file, killed with the test binary (childProcAttr).
type child struct {
	cmd    *exec.Cmd     // nil when not running
	exited chan struct{} // closed once cmd has been waited for
}

// start runs bin with args, appending its output to logPath.
func (c *child) start(bin string, args []string, logPath string) error {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testkit: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("testkit: start %s: %w", bin, err)
	}
	c.cmd, c.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(exited)
	}(c.exited)
	return nil
}

// kill ends the process, if running, with SIGKILL (as a crash would), and waits for it.
func (c *child) kill() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	<-c.exited
	c.cmd = nil
}

// running reports whether the process was started and not killed.
func (c *child) running() bool { return c.cmd != nil }
