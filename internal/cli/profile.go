package cli

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Profiles name the controllers a user triggers runs on. They live in the
// user's config dir, not in a project: they hold where the tokens are.
// A project's per-profile settings (image registries, later the deploy
// target) stay in the project file under the same profile names.
type profileFile struct {
	Profiles map[string]profileEntry `yaml:"profiles"`
}

type profileEntry struct {
	Controller string `yaml:"controller"`
	TokenFile  string `yaml:"token_file"`
}

// profilesPath is $XDG_CONFIG_HOME/sparkwing/profiles.yaml (or the
// platform's user config dir).
func (e *env) profilesPath() (string, error) {
	dir := e.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("no config directory for profiles: set XDG_CONFIG_HOME (%v)", err)
		}
		dir = d
	}
	return filepath.Join(dir, "sparkwing", "profiles.yaml"), nil
}

func (e *env) loadProfiles() (*profileFile, string, error) {
	path, err := e.profilesPath()
	if err != nil {
		return nil, "", err
	}
	pf := &profileFile{Profiles: map[string]profileEntry{}}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return pf, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	if err := yaml.UnmarshalWithOptions(data, pf, yaml.Strict()); err != nil {
		return nil, path, usageError("%s: %s (fix or remove the file; sparkwing profile add rewrites it)", path, yaml.FormatError(err, false, true))
	}
	if pf.Profiles == nil {
		pf.Profiles = map[string]profileEntry{}
	}
	return pf, path, nil
}

// save writes the profiles with mode 0600, whole or not at all.
func (pf *profileFile) save(path string) error {
	data, err := yaml.Marshal(pf)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".profiles-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func newProfileCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Name the controllers you trigger runs on (add, list, remove)",
		Long: `Profiles name controllers: 'sparkwing pipeline trigger PIPELINE --profile prod'
runs on the controller of profile prod. They are kept in
$XDG_CONFIG_HOME/sparkwing/profiles.yaml (mode 0600), which names each
controller's URL and the file holding its token.`,
	}
	var controller, tokenFile string
	add := &cobra.Command{
		Use:     "add NAME --controller URL --token-file FILE",
		Short:   "Add or replace a profile",
		Example: "  sparkwing profile add prod --controller https://ci.example.com --token-file ~/.config/sparkwing/prod.token",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if controller == "" || tokenFile == "" {
				return usageError("profile add needs --controller URL and --token-file FILE")
			}
			if !strings.HasPrefix(controller, "http://") && !strings.HasPrefix(controller, "https://") {
				return usageError("--controller %q: give the controller's URL, such as https://ci.example.com", controller)
			}
			abs, err := filepath.Abs(tokenFile)
			if err != nil {
				return err
			}
			if _, err := readToken(abs); err != nil {
				return usageError("--token-file: %v", err)
			}
			pf, path, err := e.loadProfiles()
			if err != nil {
				return err
			}
			pf.Profiles[args[0]] = profileEntry{Controller: strings.TrimRight(controller, "/"), TokenFile: abs}
			if err := pf.save(path); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "profile %s: %s (token in %s), saved in %s\n", args[0], controller, abs, path)
			return nil
		},
	}
	add.Flags().StringVar(&controller, "controller", "", "the controller's `URL`")
	add.Flags().StringVar(&tokenFile, "token-file", "", "the `FILE` holding a token with the trigger scope")
	list := &cobra.Command{
		Use: "list", Short: "List profiles", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			pf, _, err := e.loadProfiles()
			if err != nil {
				return err
			}
			names := make([]string, 0, len(pf.Profiles))
			for n := range pf.Profiles {
				names = append(names, n)
			}
			slices.Sort(names)
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROFILE\tCONTROLLER\tTOKEN FILE")
			for _, n := range names {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", n, pf.Profiles[n].Controller, pf.Profiles[n].TokenFile)
			}
			return tw.Flush()
		},
	}
	remove := &cobra.Command{
		Use: "remove NAME", Short: "Remove a profile", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			pf, path, err := e.loadProfiles()
			if err != nil {
				return err
			}
			if _, ok := pf.Profiles[args[0]]; !ok {
				return usageError("no profile %q%s", args[0], listNames(pf))
			}
			delete(pf.Profiles, args[0])
			return pf.save(path)
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func listNames(pf *profileFile) string {
	names := make([]string, 0, len(pf.Profiles))
	for n := range pf.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return " (there are none: sparkwing profile add NAME --controller URL --token-file FILE)"
	}
	return " (profiles: " + strings.Join(names, ", ") + ")"
}

func readToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}

// controllerFlags are how a verb names its controller: --controller and
// --token (or SPARKWING_CONTROLLER, SPARKWING_TOKEN[_FILE]) over a profile.
type controllerFlags struct {
	url, token, tokenFile, profile string
}

func (f *controllerFlags) add(fs *pflag.FlagSet, withProfile bool) {
	fs.StringVar(&f.url, "controller", "", "the controller's `URL` (default $SPARKWING_CONTROLLER, else the profile's)")
	fs.StringVar(&f.token, "token", "", "the API `TOKEN` (default $SPARKWING_TOKEN; prefer --token-file, which ps does not show)")
	fs.StringVar(&f.tokenFile, "token-file", "", "read the token from `FILE` (default $SPARKWING_TOKEN_FILE)")
	if withProfile {
		fs.StringVar(&f.profile, "profile", "", "the `PROFILE` naming the controller (default $SPARKWING_PROFILE; see sparkwing profile)")
	}
}

func (e *env) controller(f *controllerFlags) (Controller, error) {
	c := Controller{URL: cmp.Or(f.url, e.getenv("SPARKWING_CONTROLLER")), Token: cmp.Or(f.token, e.getenv("SPARKWING_TOKEN"))}
	tokenFile := cmp.Or(f.tokenFile, e.getenv("SPARKWING_TOKEN_FILE"))
	if name := cmp.Or(f.profile, e.getenv("SPARKWING_PROFILE")); name != "" && (c.URL == "" || c.Token == "" && tokenFile == "") {
		pf, path, err := e.loadProfiles()
		if err != nil {
			return c, err
		}
		p, ok := pf.Profiles[name]
		if !ok {
			return c, usageError("profile %q is not in %s%s", name, path, listNames(pf))
		}
		c.Profile, c.URL, tokenFile = name, cmp.Or(c.URL, p.Controller), cmp.Or(tokenFile, p.TokenFile)
	}
	if c.URL == "" {
		return c, usageError("no controller: pass --profile NAME (sparkwing profile add NAME --controller URL --token-file FILE), or --controller URL")
	}
	if c.Token == "" && tokenFile != "" {
		tok, err := readToken(tokenFile)
		if err != nil {
			return c, usageError("the controller's token: %v", err)
		}
		c.Token = tok
	}
	if c.Token == "" {
		return c, usageError("no token for %s: pass --token-file FILE (or set SPARKWING_TOKEN_FILE); sparkwing-controller token create makes one", c.URL)
	}
	c.URL = strings.TrimRight(c.URL, "/")
	return c, nil
}
