#version 330 core
// Blinn-Phong, two-sided (the inside of an open or clipped surface is lit too), with a key
// light near the eye and a dim fill light, in the feature's colour and alpha.
in vec3 v_normal;
in vec3 v_pos;
uniform vec3 u_colour;
uniform float u_alpha;
out vec4 frag;
void main() {
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
    vec3 view = normalize(-v_pos);
    if (dot(n, view) < 0.0) n = -n;       // shading normals of smoothed meshes may lean away
    vec3 key = normalize(vec3(0.35, 0.55, 1.0));
    vec3 fill = normalize(vec3(-0.6, -0.3, 0.4));
    float diff = max(dot(n, key), 0.0);
    float diff2 = max(dot(n, fill), 0.0);
    float spec = pow(max(dot(n, normalize(key + view)), 0.0), 48.0);
    vec3 c = u_colour * (0.22 + 0.68 * diff + 0.18 * diff2) + vec3(0.28) * spec;
    frag = vec4(c, u_alpha);
}
