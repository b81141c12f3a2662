package kubernetes

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/sluicelb/sluice/internal/config"
)

// kustomization is the part of kustomize's Kustomization used here
// (strictly parsed: any other field fails the test until handled).
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
}

// manifests is every object the kustomization lists, parsed strictly.
type manifests struct {
	dep *appsv1.Deployment
	svc *corev1.Service
	cm  *corev1.ConfigMap
	pdb *policyv1.PodDisruptionBudget
	hpa *autoscalingv2.HorizontalPodAutoscaler
}

func load(t *testing.T) manifests {
	t.Helper()
	var k kustomization
	strict(t, "kustomization.yaml", &k)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: %s %s", k.APIVersion, k.Kind)
	}
	// Every manifest here is listed, and every listed file exists.
	files, _ := filepath.Glob("*.yaml")
	files = slices.DeleteFunc(files, func(f string) bool { return f == "kustomization.yaml" })
	res := slices.Clone(k.Resources)
	slices.Sort(res)
	slices.Sort(files)
	if !slices.Equal(res, files) {
		t.Fatalf("kustomization resources %v, files %v", res, files)
	}
	var m manifests
	for _, f := range k.Resources {
		var tm metav1.TypeMeta
		b, _ := os.ReadFile(f)
		if err := yaml.Unmarshal(b, &tm); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		switch gvk := tm.APIVersion + "/" + tm.Kind; gvk {
		case "apps/v1/Deployment":
			m.dep = &appsv1.Deployment{}
			strict(t, f, m.dep)
		case "v1/Service":
			m.svc = &corev1.Service{}
			strict(t, f, m.svc)
		case "v1/ConfigMap":
			m.cm = &corev1.ConfigMap{}
			strict(t, f, m.cm)
		case "policy/v1/PodDisruptionBudget":
			m.pdb = &policyv1.PodDisruptionBudget{}
			strict(t, f, m.pdb)
		case "autoscaling/v2/HorizontalPodAutoscaler":
			m.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			strict(t, f, m.hpa)
		default:
			t.Fatalf("%s: unexpected %s", f, gvk)
		}
	}
	if m.dep == nil || m.svc == nil || m.cm == nil || m.pdb == nil || m.hpa == nil {
		t.Fatalf("want a Deployment, Service, ConfigMap, PodDisruptionBudget and HorizontalPodAutoscaler: %+v", m)
	}
	return m
}

// strict parses a YAML file into v, failing on unknown or duplicate fields
// (a misspelt or misplaced key would otherwise be dropped silently).
func strict(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("\n---")) {
		t.Fatalf("%s: one object per file", file)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func selects(t *testing.T, what string, sel *metav1.LabelSelector, podLabels map[string]string) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() || !s.Matches(labels.Set(podLabels)) {
		t.Errorf("%s selector %v does not select the pods %v (%v)", what, sel, podLabels, err)
	}
}

// effectiveConfig is the ConfigMap's configuration as the container
// loads it: the file at SLUICE_CONFIG with the container's SLUICE_*
// variables and flags applied (config.ParseWith validates it all).
func effectiveConfig(t *testing.T, m manifests, c *corev1.Container) (*config.Config, string) {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Fatalf("env %s: only literal values are checked here", e.Name)
		}
		env[e.Name] = e.Value
	}
	confPath := env["SLUICE_CONFIG"]
	flags := map[string]string{}
	for i, a := range c.Args {
		for _, s := range config.Settings {
			if v, ok := strings.CutPrefix(a, "--"+s.Flag+"="); ok {
				flags[s.Flag] = v
			} else if a == "--"+s.Flag && i+1 < len(c.Args) {
				flags[s.Flag] = c.Args[i+1]
			}
		}
		if a == "-c" || a == "--config" {
			confPath = c.Args[i+1]
		}
	}
	if confPath == "" {
		t.Fatal("no configuration path: neither SLUICE_CONFIG nor -c")
	}
	data, ok := m.cm.Data[path.Base(confPath)]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %q (the file name of %s)", m.cm.Name, path.Base(confPath), confPath)
	}
	cfg, err := config.ParseWith(confPath, []byte(data), config.Overrides(flags, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}))
	if err != nil {
		t.Fatalf("the ConfigMap's configuration does not validate:\n%v", err)
	}
	return cfg, confPath
}

// containerPort resolves a probe's or Service's port (name or number) to
// a container port number.
func containerPort(t *testing.T, c *corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	t.Fatalf("port %s is not a port of container %s", p.String(), c.Name)
	return 0
}

func portOf(t *testing.T, listen string) (string, int32) {
	t.Helper()
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, int32(n)
}

// TestManifestInvariants parses every manifest with the Kubernetes API
// types and checks what must agree: selectors and labels, probes and the
// admin listener, ports and frontends, the grace period and the shutdown
// timeout, the ConfigMap mount and --watch, the state directory, the
// security context, resources, the HPA and PDB targets and the Prometheus
// annotations.
func TestManifestInvariants(t *testing.T) {
	m := load(t)
	d := m.dep
	pod := d.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Spec.Containers))
	}
	c := &pod.Spec.Containers[0]
	cfg, confPath := effectiveConfig(t, m, c)

	// Selectors.
	selects(t, "Deployment", d.Spec.Selector, pod.Labels)
	selects(t, "PodDisruptionBudget", m.pdb.Spec.Selector, pod.Labels)
	if len(m.svc.Spec.Selector) == 0 || !labels.SelectorFromSet(m.svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("Service selector %v does not select the pods %v", m.svc.Spec.Selector, pod.Labels)
	}

	// The admin listener: reachable from the kubelet and Prometheus (not
	// loopback), and the port the probes and annotations name.
	host, adminPort := portOf(t, cfg.Admin.Listen)
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		t.Errorf("admin.listen %s: the kubelet's probes and Prometheus connect to the pod's address; listen on 0.0.0.0", cfg.Admin.Listen)
	}
	probe := func(name string, p *corev1.Probe, wantPath string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil {
			t.Fatalf("%s probe: want an httpGet probe", name)
		}
		if p.HTTPGet.Path != wantPath || containerPort(t, c, p.HTTPGet.Port) != adminPort {
			t.Errorf("%s probe %s on port %s, want %s on the admin port %d", name, p.HTTPGet.Path, p.HTTPGet.Port.String(), wantPath, adminPort)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	ann := pod.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(int(adminPort)) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("Prometheus annotations %v, want scrape true, port %d, path /metrics", ann, adminPort)
	}

	// Every frontend's port is a container port; the Service targets one.
	for _, f := range cfg.Frontends {
		_, p := portOf(t, f.Listen)
		if containerPort(t, c, intstr.FromInt32(p)) != p {
			t.Errorf("frontend %s port %d is not a container port", f.Name, p)
		}
	}
	for _, sp := range m.svc.Spec.Ports {
		tp := containerPort(t, c, sp.TargetPort)
		if tp == adminPort {
			t.Errorf("the Service exposes the admin port %d", tp)
		}
	}

	// Stopping: the preStop pause, then SIGTERM and shutdown_timeout, all
	// within the grace period. The pause is a sleep action: the image has
	// no shell and no sleep binary.
	pre := c.Lifecycle
	if pre == nil || pre.PreStop == nil || pre.PreStop.Sleep == nil || pre.PreStop.Exec != nil || pre.PreStop.Sleep.Seconds < 1 {
		t.Fatalf("preStop: want a sleep action of at least 1s, got %+v", pre)
	}
	pause := time.Duration(pre.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	if grace <= pause+cfg.ShutdownTimeout {
		t.Errorf("terminationGracePeriodSeconds %v must exceed preStop %v + shutdown_timeout %v", grace, pause, cfg.ShutdownTimeout)
	}

	// The ConfigMap, mounted as a directory (a subPath mount never sees
	// updates) where SLUICE_CONFIG points, and followed with --watch.
	if !slices.Contains(c.Args, "--watch") || c.Args[0] != "run" {
		t.Errorf("args %q: want run … --watch", c.Args)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	cmMounted := false
	for name, v := range vols {
		if v.ConfigMap == nil || v.ConfigMap.Name != m.cm.Name {
			continue
		}
		vm := mounts[name]
		if vm.MountPath == path.Dir(confPath) && vm.SubPath == "" && vm.ReadOnly && len(v.ConfigMap.Items) == 0 {
			cmMounted = true
		}
	}
	if !cmMounted {
		t.Errorf("ConfigMap %s is not mounted read-only as the directory %s (without subPath)", m.cm.Name, path.Dir(confPath))
	}
	// state_dir: a writable emptyDir.
	stateOK := false
	for name, v := range vols {
		if v.EmptyDir != nil && mounts[name].MountPath == cfg.Admin.StateDir && !mounts[name].ReadOnly {
			stateOK = true
		}
	}
	if cfg.Admin.StateDir == "" || !stateOK {
		t.Errorf("admin.state_dir %q (%s) is not a writable emptyDir mount", cfg.Admin.StateDir, cfg.Source("admin.state_dir"))
	}

	// Security context: non-root, read-only root, no privilege escalation,
	// every capability dropped (NET_BIND_SERVICE only for a port < 1024),
	// the runtime's default seccomp profile.
	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	if sc == nil || psc == nil {
		t.Fatal("no security context")
	}
	if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
		t.Error("runAsNonRoot is not set")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("want readOnlyRootFilesystem: true and allowPrivilegeEscalation: false")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities %+v: want drop [ALL]", sc.Capabilities)
	}
	lowPort := adminPort < 1024
	for _, f := range cfg.Frontends {
		if _, p := portOf(t, f.Listen); p < 1024 {
			lowPort = true
		}
	}
	var wantAdd []corev1.Capability
	if lowPort {
		wantAdd = []corev1.Capability{"NET_BIND_SERVICE"}
	}
	if sc.Capabilities != nil && !slices.Equal(sc.Capabilities.Add, wantAdd) {
		t.Errorf("capabilities add %v, want %v (a port below 1024: %v)", sc.Capabilities.Add, wantAdd, lowPort)
	}
	seccomp := psc.SeccompProfile
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile %+v: want RuntimeDefault", seccomp)
	}
	if psc.RunAsUser != nil && *psc.RunAsUser != 65532 {
		t.Errorf("runAsUser %d, the image's user is 65532", *psc.RunAsUser)
	}

	// Resources: requests and limits for CPU and memory, requests ≤ limits.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okr := c.Resources.Requests[r]
		lim, okl := c.Resources.Limits[r]
		if !okr || !okl || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %v limit %v", r, req.String(), lim.String())
		}
	}

	// The HPA scales this Deployment on CPU (which needs the CPU request);
	// the PDB leaves room to evict when the HPA is at its minimum.
	ref := m.hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
		t.Errorf("HPA targets %+v, not Deployment %s", ref, d.Name)
	}
	cpu := false
	for _, mt := range m.hpa.Spec.Metrics {
		if mt.Type == autoscalingv2.ResourceMetricSourceType && mt.Resource != nil && mt.Resource.Name == corev1.ResourceCPU &&
			mt.Resource.Target.Type == autoscalingv2.UtilizationMetricType && mt.Resource.Target.AverageUtilization != nil {
			cpu = true
		}
	}
	if !cpu {
		t.Error("the HPA has no CPU utilization metric")
	}
	minR := int32(1)
	if m.hpa.Spec.MinReplicas != nil {
		minR = *m.hpa.Spec.MinReplicas
	}
	if m.pdb.Spec.MinAvailable == nil || m.pdb.Spec.MinAvailable.Type != intstr.Int || m.pdb.Spec.MinAvailable.IntVal >= minR ||
		m.hpa.Spec.MaxReplicas < minR || d.Spec.Replicas == nil || *d.Spec.Replicas < minR {
		t.Errorf("PDB minAvailable %v must be below the HPA's minReplicas %d (max %d, Deployment replicas %v)",
			m.pdb.Spec.MinAvailable, minR, m.hpa.Spec.MaxReplicas, d.Spec.Replicas)
	}
	if rs := d.Spec.Strategy.RollingUpdate; rs == nil || rs.MaxUnavailable == nil || rs.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update: want maxUnavailable 0, got %+v", rs)
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// TestManifestInvariantsCatchMistakes breaks the manifests on purpose and
// checks that the invariants above notice (each break in a copy of the
// directory).
func TestManifestInvariantsCatchMistakes(t *testing.T) {
	breaks := []struct{ file, old, new string }{
		{"configmap.yaml", "listen: 0.0.0.0:9900", "listen: 127.0.0.1:9900"},
		{"configmap.yaml", "shutdown_timeout: 30s", "shutdown_timeout: 50s"},
		{"deployment.yaml", "path: /readyz", "path: /healthz"},
		{"deployment.yaml", "prometheus.io/port: \"9900\"", "prometheus.io/port: \"9901\""},
		{"deployment.yaml", "mountPath: /etc/sluice\n", "mountPath: /etc/sluice/sluice.yaml\n              subPath: sluice.yaml\n"},
		{"deployment.yaml", "args: [run, --watch]", "args: [run]"},
		{"deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"},
		{"deployment.yaml", "value: /var/lib/sluice", "value: /var/lib/other"},
		{"deployment.yaml", "              sleep:\n                seconds: 5", "              sleep:\n                seconds: 20"},
		{"deployment.yaml", "readinessProbe:", "readinesProbe:"},
		{"service.yaml", "targetPort: http", "targetPort: admin"},
		{"poddisruptionbudget.yaml", "matchLabels:\n      app.kubernetes.io/name: sluice", "matchLabels:\n      app.kubernetes.io/name: slice"},
		{"horizontalpodautoscaler.yaml", "name: sluice\n  minReplicas", "name: sluice-x\n  minReplicas"},
	}
	for _, b := range breaks {
		t.Run(b.file+": "+strings.SplitN(b.new, "\n", 2)[0], func(t *testing.T) {
			dir := t.TempDir()
			files, _ := filepath.Glob("*.yaml")
			for _, f := range files {
				data, _ := os.ReadFile(f)
				if f == b.file {
					if !bytes.Contains(data, []byte(b.old)) {
						t.Fatalf("%s lacks %q", f, b.old)
					}
					data = bytes.Replace(data, []byte(b.old), []byte(b.new), 1)
				}
				os.WriteFile(filepath.Join(dir, f), data, 0o644)
			}
			out, err := runIn(dir)
			if err == nil {
				t.Fatalf("TestManifestInvariants passed with %s broken (%q → %q)", b.file, b.old, b.new)
			}
			t.Logf("caught: %s", lastLines(out, 2))
		})
	}
}

// runIn runs TestManifestInvariants of this test binary on the manifests
// in dir.
func runIn(dir string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(exe, "-test.run", "^TestManifestInvariants$", "-test.count=1")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	var keep []string
	for _, l := range ls {
		if strings.Contains(l, "manifest_test.go") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	if len(keep) > n {
		keep = keep[:n]
	}
	return strings.Join(keep, " | ")
}

// TestSluiceLinksNoDeployLibraries: the Kubernetes and image libraries
// these tests and tools/mkimage use stay out of the sluice binary.
func TestSluiceLinksNoDeployLibraries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/sluicelb/sluice/cmd/sluice").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"k8s.io/", "sigs.k8s.io/", "github.com/google/go-containerregistry"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("cmd/sluice links %s", dep)
			}
		}
	}
	if len(strings.Fields(string(out))) < 20 {
		t.Fatalf("go list -deps listed too little: %s", out)
	}
}
