package smoke

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse-go/internal/shared"
	"lakehouse-go/internal/testutil/suite"
)

// TestInstallLayout: scripts/install.sh (staged with DESTDIR) puts every
// binary where the systemd units' ExecStart looks for it, and the config
// and env files where their --config and EnvironmentFile= name them; the
// installed config loads and validates; a second install keeps an
// operator's edited config.
func TestInstallLayout(t *testing.T) {
	bin, err := suite.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	install := func() string {
		t.Helper()
		cmd := exec.Command("bash", "scripts/install.sh")
		cmd.Dir = suite.RepoRoot()
		cmd.Env = append(os.Environ(), "DESTDIR="+dest, "BIN_DIR="+bin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	install()
	units, _ := filepath.Glob(filepath.Join(dest, "etc/systemd/system/lakehouse-*.service"))
	if len(units) != len(shared.Daemons) {
		t.Fatalf("%d units installed, want %d", len(units), len(shared.Daemons))
	}
	if _, err := os.Stat(filepath.Join(dest, "etc/systemd/system/lakehouse-go.target")); err != nil {
		t.Fatal(err)
	}
	verifyUnits(t, dest)
	// The backup command REPLICATION.md names, and the runbook itself.
	if out, err := exec.Command(filepath.Join(dest, "usr/local/bin/lakehouse-backup"), "-h").CombinedOutput(); !strings.Contains(string(out), "-to") {
		t.Fatalf("lakehouse-backup -h: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/share/doc/lakehouse-go/REPLICATION.md")); err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(u), "lakehouse-"), ".service")
		f, err := os.Open(u)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		var exe []string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
				exe = strings.Fields(v)
			}
			if v, ok := strings.CutPrefix(line, "EnvironmentFile="); ok && !strings.HasPrefix(v, "-") {
				t.Errorf("%s: EnvironmentFile %s is not optional", u, v)
			}
			if v, ok := strings.CutPrefix(line, "Documentation=file://"); ok {
				if _, err := os.Stat(filepath.Join(dest, v)); err != nil {
					t.Errorf("%s: Documentation %s is not installed", u, v)
				}
			}
		}
		f.Close()
		if len(exe) != 3 || exe[0] != "/usr/local/bin/lakehouse-"+name || exe[1] != "--config" {
			t.Fatalf("%s: ExecStart %q", u, exe)
		}
		st, err := os.Stat(filepath.Join(dest, exe[0]))
		if err != nil || st.Mode()&0o111 == 0 {
			t.Fatalf("%s: %s not installed as an executable: %v", u, exe[0], err)
		}
		cfg, err := shared.Load(filepath.Join(dest, exe[2]), func(string) string { return "" })
		if err != nil {
			t.Fatalf("%s: the installed %s does not load: %v", u, exe[2], err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: the installed config: %v", u, err)
		}
		if cfg.DataDir != "/var/lib/lakehouse" {
			t.Fatalf("installed data_dir %q, want the units' StateDirectory /var/lib/lakehouse", cfg.DataDir)
		}
	}
	if cfg, _ := shared.Load(filepath.Join(dest, "etc/lakehouse/lakehouse.toml"), func(string) string { return "" }); cfg.Chatd.KeysDir != "/etc/lakehouse/keys" {
		t.Fatalf("installed [chatd].keys_dir %q", cfg.Chatd.KeysDir)
	}
	if st, err := os.Stat(filepath.Join(dest, "etc/lakehouse/keys")); err != nil || !st.IsDir() {
		t.Fatalf("keys dir: %v", err)
	}
	// An operator's config survives a reinstall.
	p := filepath.Join(dest, "etc/lakehouse/lakehouse.toml")
	b, _ := os.ReadFile(p)
	edited := append(b, []byte("\n# edited by the operator\n")...)
	if err := os.WriteFile(p, edited, 0o640); err != nil {
		t.Fatal(err)
	}
	if out := install(); !strings.Contains(out, "kept the existing") {
		t.Fatalf("second install: %s", out)
	}
	if got, _ := os.ReadFile(p); string(got) != string(edited) {
		t.Fatal("a reinstall replaced the operator's lakehouse.toml")
	}
}

// verifyUnits runs systemd's own parser over the installed units (with
// ExecStart pointing into the staging directory, where the binaries are):
// a misspelt directive or a bad value is only a warning in the journal at
// daemon-reload, and systemd then runs the service without it (a typo in
// a hardening line silently drops the hardening). Any output is a failure.
// Skipped where systemd-analyze is not installed.
func verifyUnits(t *testing.T, dest string) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: units not verified")
		return
	}
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(dest, "etc/systemd/system/lakehouse-*"))
	var args []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "=/usr/local/bin/", "="+filepath.Join(dest, "usr/local/bin")+"/"))
		p := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	cmd := exec.Command(sa, append([]string{"verify", "--man=no"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify of the installed units: %v\n%s", err, out)
	}
}

// stageInstall runs scripts/install.sh with DESTDIR=dest.
func stageInstall(t *testing.T, dest string) {
	t.Helper()
	bin, err := suite.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "scripts/install.sh")
	cmd.Dir = suite.RepoRoot()
	cmd.Env = append(os.Environ(), "DESTDIR="+dest, "BIN_DIR="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
}

// TestInstallUserAndGroup: the install carries a sysusers.d entry that
// systemd-sysusers (run on the staged tree, as at boot or by a package's
// trigger) turns into the user and the group the units run as (User=,
// Group=lakehouse), with the units' data dir as home and no login shell;
// a lakehouse group that exists already becomes its primary group (a
// plain `useradd --system lakehouse` stopped install.sh there with "group
// lakehouse exists", and made no group at all under USERGROUPS_ENAB no,
// so every unit failed with status 216/GROUP). Skipped without
// systemd-sysusers.
func TestInstallUserAndGroup(t *testing.T) {
	sysusers, err := exec.LookPath("systemd-sysusers")
	if err != nil {
		t.Skip("systemd-sysusers not installed")
	}
	for _, tc := range []struct {
		name, group string // group: /etc/group before
		gid         string
	}{
		{"fresh", "", ""},
		{"group exists", "lakehouse:x:4242:alice\n", "4242"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			stageInstall(t, dest)
			if err := os.WriteFile(filepath.Join(dest, "etc/group"), []byte(tc.group), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(sysusers, "--root="+dest).CombinedOutput(); err != nil {
				t.Fatalf("systemd-sysusers --root: %v\n%s", err, out)
			}
			d := unitDirectives(t, filepath.Join(dest, "etc/systemd/system/lakehouse-storaged.service"))
			user, group := strings.Join(d["User"], ""), strings.Join(d["Group"], "")
			var pw []string
			passwd, _ := os.ReadFile(filepath.Join(dest, "etc/passwd"))
			for _, line := range strings.Split(string(passwd), "\n") {
				if f := strings.Split(line, ":"); f[0] == user && len(f) == 7 {
					pw = f
				}
			}
			if pw == nil {
				t.Fatalf("no user %q (the units' User=) in the staged /etc/passwd:\n%s", user, passwd)
			}
			if pw[5] != "/var/lib/lakehouse" || pw[6] != "/usr/sbin/nologin" {
				t.Errorf("user %q: home %s shell %s", user, pw[5], pw[6])
			}
			groups, _ := os.ReadFile(filepath.Join(dest, "etc/group"))
			var gid string
			for _, line := range strings.Split(string(groups), "\n") {
				if f := strings.Split(line, ":"); f[0] == group && len(f) == 4 {
					gid = f[2]
				}
			}
			if gid == "" || pw[3] != gid || (tc.gid != "" && gid != tc.gid) {
				t.Errorf("group %q (the units' Group=) gid %q; the user's primary gid %s, want %s", group, gid, pw[3], tc.gid)
			}
		})
	}
}
