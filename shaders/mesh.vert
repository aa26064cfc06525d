#version 330 core
// Surfaces and particle spheres of the 3D scene. Vertices in Å (x, y, z); a sphere instance
// adds its centre (attribute 2, per instance) to the unit sphere scaled by u_scale. For
// surfaces attribute 2 is disabled (reads 0) and u_scale is 1.
layout(location = 0) in vec3 a_pos;
layout(location = 1) in vec3 a_normal;
layout(location = 2) in vec3 a_offset;
uniform mat4 u_view;        // world -> camera
uniform mat4 u_proj;        // camera -> clip
uniform float u_scale;
out vec3 v_normal;          // camera space
out vec3 v_pos;             // camera space
void main() {
    vec4 p = u_view * vec4(a_pos * u_scale + a_offset, 1.0);
    v_pos = p.xyz;
    v_normal = mat3(u_view) * a_normal;   // the view has no scaling: its rotation is enough
    gl_Position = u_proj * p;
}
