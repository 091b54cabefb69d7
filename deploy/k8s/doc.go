// Package k8s holds no code: its tests render the kustomizations beside it
// and check every object against the Kubernetes API types. It is a module of
// its own so that the Kubernetes libraries stay out of the server's go.mod,
// whose Temporal, gRPC and protobuf versions they would otherwise move.
package k8s
