package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/project"
)

// Shell completion (sparkwing completion bash|zsh|fish|powershell) comes
// from cobra; completePipelineArgs teaches it what follows run, plan and
// why: pipeline names with their descriptions and job names (for why's
// JOB and --only); cobra completes flag names. Job names of a Go pipeline are
// not offered: finding them could mean compiling it.
func (e *env) completePipelineArgs(g *globals, jobArg bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		const none = cobra.ShellCompDirectiveNoFileComp
		fs := cmd.Flags()
		fs.AddFlagSet(cmd.InheritedFlags())
		own, name, rest, _ := splitArgs(fs, args)
		fs.Parse(own) // for -C; a bad flag only narrows what is offered
		if strings.HasPrefix(toComplete, "-") && !strings.HasPrefix(toComplete, "--only=") {
			return nil, none // cobra completes flag names itself
		}
		_, file, err := e.loadProject(g)
		if err != nil {
			return nil, none
		}
		onlyValue, prefix, afterOnly := onlyCompletion(args, toComplete)
		switch {
		case afterOnly && name != "":
			return jobCompletions(file.Pipeline(name), prefix, onlyValue), cobra.ShellCompDirectiveNoSpace | none
		case name == "":
			var out []cobra.Completion
			for _, p := range file.Pipelines {
				if strings.HasPrefix(p.Name, toComplete) {
					out = append(out, cobra.CompletionWithDesc(p.Name, p.Description))
				}
			}
			return out, none
		case jobArg && len(rest) == 0:
			return jobCompletions(file.Pipeline(name), "", toComplete), none
		}
		return nil, none
	}
}

// onlyCompletion reports whether the word being completed is --only's
// value: the part after its last comma, and what comes before that part.
func onlyCompletion(args []string, toComplete string) (value, prefix string, ok bool) {
	word := toComplete
	if v, found := strings.CutPrefix(toComplete, "--only="); found {
		word, prefix, ok = v, "--only=", true
	} else if len(args) > 0 && args[len(args)-1] == "--only" {
		ok = true
	}
	if i := strings.LastIndexByte(word, ','); i >= 0 {
		prefix += word[:i+1]
		word = word[i+1:]
	}
	return word, prefix, ok
}

func jobCompletions(p *project.Pipeline, prefix, word string) []cobra.Completion {
	if p == nil {
		return nil
	}
	var out []cobra.Completion
	for _, j := range p.Jobs {
		if strings.HasPrefix(j.ID, word) {
			out = append(out, cobra.CompletionWithDesc(prefix+j.ID, j.Description))
		}
	}
	return out
}
