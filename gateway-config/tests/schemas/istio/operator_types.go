// Structure-only copy: istio/istio tag 1.30.3, operator/pkg/apis/types.go
// (Apache-2.0, Copyright Istio Authors). Type declarations only, comments removed; see README.md.
package apis
type IstioOperator struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty""`
	Spec IstioOperatorSpec `json:"spec,omitempty"`
}
type IstioOperatorSpec struct {
	Profile string `json:"profile,omitempty"`
	InstallPackagePath string `json:"installPackagePath,omitempty"`
	Hub string `json:"hub,omitempty"`
	Tag any `json:"tag,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Revision string `json:"revision,omitempty"`
	CompatibilityVersion string `json:"compatibilityVersion,omitempty"`
	MeshConfig json.RawMessage `json:"meshConfig,omitempty"`
	Components *IstioComponentSpec `json:"components,omitempty"`
	Values json.RawMessage `json:"values,omitempty"`
	UnvalidatedValues any `json:"unvalidatedValues,omitempty"`
}
type IstioComponentSpec struct {
	Base    *BaseComponentSpec `json:"base,omitempty"`
	Pilot   *ComponentSpec     `json:"pilot,omitempty"`
	Cni     *ComponentSpec     `json:"cni,omitempty"`
	Ztunnel *ComponentSpec     `json:"ztunnel,omitempty"`
	IstiodRemote    *ComponentSpec         `json:"istiodRemote,omitempty"`
	IngressGateways []GatewayComponentSpec `json:"ingressGateways,omitempty"`
	EgressGateways  []GatewayComponentSpec `json:"egressGateways,omitempty"`
}
type BaseComponentSpec struct {
	Enabled    *BoolValue           `json:"enabled,omitempty"`
	Kubernetes *KubernetesResources `json:"k8s,omitempty"`
}
type ComponentSpec struct {
	Enabled *BoolValue `json:"enabled,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Hub string `json:"hub,omitempty"`
	Tag any `json:"tag,omitempty"`
	Kubernetes *KubernetesResources `json:"k8s,omitempty"`
	Raw map[string]any `json:"-"`
}
type GatewayComponentSpec struct {
	ComponentSpec
	Name string `json:"name,omitempty"`
	Label map[string]string `json:"label,omitempty"`
}
type KubernetesResources struct {
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	Env []*corev1.EnvVar `json:"env,omitempty"`
	HpaSpec *autoscaling.HorizontalPodAutoscalerSpec `json:"hpaSpec,omitempty"`
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	PodDisruptionBudget *policy.PodDisruptionBudgetSpec `json:"podDisruptionBudget,omitempty"`
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`
	PriorityClassName string `json:"priorityClassName,omitempty"`
	ReadinessProbe *corev1.Probe `json:"readinessProbe,omitempty"`
	ReplicaCount uint32 `json:"replicaCount,omitempty"`
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	Service *corev1.ServiceSpec `json:"service,omitempty"`
	Strategy *appsv1.DeploymentStrategy `json:"strategy,omitempty"`
	Tolerations []*corev1.Toleration `json:"tolerations,omitempty"`
	ServiceAnnotations map[string]string `json:"serviceAnnotations,omitempty"`
	SecurityContext *corev1.PodSecurityContext `json:"securityContext,omitempty"`
	Volumes []*corev1.Volume `json:"volumes,omitempty"`
	VolumeMounts []*corev1.VolumeMount `json:"volumeMounts,omitempty"`
	Overlays []KubernetesOverlay `json:"overlays,omitempty"`
}
type KubernetesOverlay struct {
	ApiVersion string `json:"apiVersion,omitempty"`
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
	Patches []Patch `json:"patches,omitempty"`
}
type Patch struct {
	Path string `json:"path,omitempty"`
	Value any `json:"value,omitempty"`
}
type BoolValue struct {
	bool
}
