/* pixel_shuffle with a crop, and its backward, on NHWC (channels_last) float32 tensors.
 *
 * The plan's sub-pixel convolution (convolab/fastplan.py) computes s * s phases as channels
 * o * s * s + a * s + b of a low-resolution tensor x (N, h, w, O * s * s) and interleaves them into
 * y[n][i * s + a][j * s + b][o], keeping rows < Ho and columns < Wo (a 'valid' convolution's output
 * is shorter than s * h). PyTorch runs pixel_shuffle, then the crop's copy when the next layer needs
 * a dense tensor, and in the backward pixel_unshuffle of a zero-padded gradient; here each is one
 * pass that writes every element once. With relu set, the ReLU that follows is applied in the same
 * pass (v < 0 -> 0, NaN kept), and its backward (out <= 0 -> no gradient, as threshold_backward) too,
 * from the saved output y. Pure moves and selects: PyTorch's values bit for bit.
 * Built by convolab/native/build.py, driven by convolab/native/shuffle.py.
 */
#include <stdint.h>
#include <string.h>

#define PARALLEL_MIN 65536

void pixel_shuffle_forward(const float *x, float *y, int64_t N, int64_t h, int64_t w, int64_t O,
                           int64_t s, int64_t Ho, int64_t Wo, int64_t relu) {
    int64_t ss = s * s, C = O * ss;
#pragma omp parallel for schedule(static) if (N * Ho * Wo * O >= PARALLEL_MIN)
    for (int64_t n = 0; n < N; n++)
        for (int64_t r = 0; r < Ho; r++) {
            int64_t i = r / s, a = r - i * s;
            const float *xr = x + (n * h + i) * w * C + a * s;
            float *yr = y + (n * Ho + r) * Wo * O;
            for (int64_t q = 0; q < Wo; q++) {
                int64_t j = q / s, b = q - j * s;
                const float *xp = xr + j * C + b;
                float *yp = yr + q * O;
                if (relu)
                    for (int64_t o = 0; o < O; o++) yp[o] = xp[o * ss] < 0.0f ? 0.0f : xp[o * ss];
                else
                    for (int64_t o = 0; o < O; o++) yp[o] = xp[o * ss];
            }
        }
}

void pixel_shuffle_backward(const float *gy, const float *y, float *gx, int64_t N, int64_t h, int64_t w,
                            int64_t O, int64_t s, int64_t Ho, int64_t Wo) {
    int64_t ss = s * s, C = O * ss;
#pragma omp parallel for schedule(static) if (N * h * w * C >= PARALLEL_MIN)
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < h; i++)
            for (int64_t j = 0; j < w; j++) {
                float *gp = gx + ((n * h + i) * w + j) * C;
                for (int64_t a = 0; a < s; a++) {
                    int64_t r = i * s + a;
                    for (int64_t b = 0; b < s; b++) {
                        int64_t q = j * s + b;
                        if (r < Ho && q < Wo) {
                            int64_t at = ((n * Ho + r) * Wo + q) * O;
                            const float *src = gy + at;
                            if (y) /* the ReLU's backward: no gradient where its output is <= 0 */
                                for (int64_t o = 0; o < O; o++)
                                    gp[o * ss + a * s + b] = y[at + o] <= 0.0f ? 0.0f : src[o];
                            else
                                for (int64_t o = 0; o < O; o++) gp[o * ss + a * s + b] = src[o];
                        } else { /* cropped away: no gradient */
                            for (int64_t o = 0; o < O; o++) gp[o * ss + a * s + b] = 0.0f;
                        }
                    }
                }
            }
}
