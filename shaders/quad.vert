#version 330 core
// A textured quad in image pixels (x right, y down), placed on screen by the view transform.
layout(location = 0) in vec2 a_pos;   // corner in 0..1
uniform vec2 u_size;                  // image (x, y) size in pixels
uniform vec2 u_scale;                 // image pixel -> NDC scale
uniform vec2 u_offset;                // NDC of image pixel (0, 0)
out vec2 v_uv;
void main() {
    vec2 p = a_pos * u_size;
    gl_Position = vec4(u_offset + p * u_scale, 0.0, 1.0);
    v_uv = a_pos;
}
