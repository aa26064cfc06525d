#version 330 core
// Lines of the 3D scene (the tomogram's outline), in Å.
layout(location = 0) in vec3 a_pos;
uniform mat4 u_view;
uniform mat4 u_proj;
void main() {
    gl_Position = u_proj * (u_view * vec4(a_pos, 1.0));
}
