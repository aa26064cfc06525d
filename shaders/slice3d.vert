#version 330 core
// The current slice in place in the 3D scene: the unit quad spread over the tomogram's x, y
// extent (Å) at the slice's z. v_uv as quad.vert gives it, so slice.frag draws it unchanged.
layout(location = 0) in vec2 a_pos;   // corner in 0..1
uniform mat4 u_view;
uniform mat4 u_proj;
uniform vec3 u_origin;                // Å of texture corner (0, 0)
uniform vec2 u_extent;                // Å spanned in x and y
out vec2 v_uv;
void main() {
    vec3 p = u_origin + vec3(a_pos * u_extent, 0.0);
    gl_Position = u_proj * (u_view * vec4(p, 1.0));
    v_uv = a_pos;
}
