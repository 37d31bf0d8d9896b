package job

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
)

// WatchdogArg is the argument that makes the sparkwing binary run as a
// watchdog (WatchdogMain) instead of the CLI.
const WatchdogArg = "__sparkwing-watchdog"

// Watchdog makes a run's jobs die with it. sparkwing kills a job's process
// group whenever the job ends, is cancelled or times out, but a sparkwing
// killed with SIGKILL (or crashing) cannot: its jobs would go on writing
// outputs, and a re-run could store their half-written result. So the
// first job of a run starts a watchdog process, in its own session (out of
// reach of signals sent to sparkwing's process group), that is told the
// process group of each job as it starts and ends. When its stdin closes,
// which the kernel does when sparkwing dies, it kills the groups still
// running. Each job's main process also gets SIGKILL through
// PR_SET_PDEATHSIG, which covers the instant before the watchdog knows it.
//
// A Watchdog is safe for concurrent use. If the watchdog cannot start,
// jobs run without one (after one warning through Warn).
type Watchdog struct {
	Exe  string       // the sparkwing executable
	Warn func(string) // optional

	once   sync.Once
	mu     sync.Mutex
	w      *os.File // the watchdog's stdin; nil when it could not start
	cmd    *exec.Cmd
	exited chan struct{} // closed once Close has reaped it
}

// ready starts the watchdog if it is not running yet.
func (d *Watchdog) ready() {
	if d != nil {
		d.once.Do(d.start)
	}
}

// watch tells the watchdog that process group pgid is a running job.
func (d *Watchdog) watch(pgid int) {
	if d == nil {
		return
	}
	d.ready()
	d.send('+', pgid)
}

// forget tells the watchdog that group pgid has been killed and reaped.
func (d *Watchdog) forget(pgid int) {
	if d != nil {
		d.send('-', pgid)
	}
}

func (d *Watchdog) send(op byte, pgid int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w != nil {
		fmt.Fprintf(d.w, "%c%d\n", op, pgid)
	}
}

func (d *Watchdog) start() {
	pr, pw, err := os.Pipe()
	if err == nil {
		// argv[0] is "sparkwing" whatever the file is called, so a test
		// binary standing in for sparkwing dispatches on it too.
		d.cmd = &exec.Cmd{Path: d.Exe, Args: []string{"sparkwing", WatchdogArg}, Stdin: pr,
			Env: []string{}, SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
		err = d.cmd.Start()
		pr.Close()
	}
	if err != nil {
		if pw != nil {
			pw.Close()
		}
		if d.Warn != nil {
			d.Warn(fmt.Sprintf("could not start the job watchdog (%v): if sparkwing is killed, its jobs may outlive it", err))
		}
		return
	}
	d.mu.Lock()
	d.w = pw
	d.mu.Unlock()
}

// Close ends the watchdog once no job is running: the end of its input
// tells it so. It is reaped in the background: waiting for it to be
// scheduled and exit took 0.7 ms at the end of every run that ran a job.
func (d *Watchdog) Close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	w := d.w
	d.w = nil
	d.mu.Unlock()
	if w != nil {
		w.Close()
		d.exited = make(chan struct{})
		go func() { d.cmd.Wait(); close(d.exited) }()
	}
}

// WatchdogMain is the watchdog process: it reads "+PGID" and "-PGID" lines
// until in ends, then kills every group still listed. It ignores the
// signals a terminal or a process manager sends, since only the end of its
// input means sparkwing is gone.
func WatchdogMain(in io.Reader) int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	groups := map[int]bool{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 2 {
			continue
		}
		pgid, err := strconv.Atoi(line[1:])
		if err != nil || pgid <= 1 {
			continue
		}
		switch line[0] {
		case '+':
			groups[pgid] = true
		case '-':
			delete(groups, pgid)
		}
	}
	for pgid := range groups {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	return 0
}
