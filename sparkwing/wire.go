package sparkwing

// ProtocolVersion is bumped whenever the plan JSON changes incompatibly.
const ProtocolVersion = 1

// WirePlan is what a pipeline program prints for `plan`. The sparkwing
// engine reads it; users never need it.
type WirePlan struct {
	Protocol int       `json:"protocol"`
	Pipeline string    `json:"pipeline"`
	Args     []WireArg `json:"args,omitempty"`
	Jobs     []WireJob `json:"jobs"`
}

// WireArg describes one typed pipeline argument and the value it got.
type WireArg struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Usage string `json:"usage,omitempty"`
	Value string `json:"value"`
}

// WireJob is one job as the engine sees it. Fields mirror the YAML job keys.
type WireJob struct {
	ID          string       `json:"id"`
	Description string       `json:"description,omitempty"`
	Run         string       `json:"run,omitempty"`
	Step        bool         `json:"step,omitempty"`
	Image       *ImageSpec   `json:"image,omitempty"`
	Service     *ServiceSpec `json:"service,omitempty"`
	Deploy      *DeploySpec  `json:"deploy,omitempty"`
	Needs       []string     `json:"needs,omitempty"`
	Inputs      []string     `json:"inputs,omitempty"`
	GoInputs    []GoPackages `json:"go_inputs,omitempty"`
	GoTest      *GoTests     `json:"go_test,omitempty"`
	Outputs     []string     `json:"outputs,omitempty"`
	Env         []string     `json:"env,omitempty"`
	Passthrough []string     `json:"passthrough,omitempty"`
	Tools       []string     `json:"tools,omitempty"`
	Cache       *bool        `json:"cache,omitempty"`
	Timeout     string       `json:"timeout,omitempty"`
	Retries     int          `json:"retries,omitempty"`
	Stamp       []string     `json:"stamp,omitempty"`
}
