// Package kubernetes holds the Kubernetes manifests for Sluice
// (kustomization.yaml and the files it lists; docs/deploy.md). It has no Go
// code: its test parses every manifest with the Kubernetes API types and
// checks what must agree between them and with sluice. The Kubernetes
// modules are imported by that test only; the sluice binary links none of
// them (TestSluiceLinksNoDeployLibraries).
package kubernetes
