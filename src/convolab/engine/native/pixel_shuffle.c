/* pixel_shuffle with a crop, and its backward, on NHWC (channels_last) float32 tensors.
 *
 * The plan's sub-pixel convolution (convolab/engine/plan.py) computes s * s phases as channels
 * o * s * s + a * s + b of a low-resolution tensor x (N, h, w, O * s * s) and interleaves them into
 * y[n][i * s + a][j * s + b][o], keeping rows < Ho and columns < Wo (a 'valid' convolution's output
 * is shorter than s * h). PyTorch runs pixel_shuffle, then the crop's copy when the next layer needs
 * a dense tensor, and in the backward pixel_unshuffle of a zero-padded gradient; here each is one
 * pass that writes every element once. With relu set, the ReLU that follows is applied in the same
 * pass (v < 0 -> 0, NaN kept), and its backward (out <= 0 -> no gradient, as threshold_backward) too,
 * from the saved output y. Pure moves and selects: PyTorch's values bit for bit.
 *
 * For s = 2 (every 2x upsampling) a low-resolution pixel's 4 * O values go to a 2 x 2 block of
 * output pixels in one loop over o that reads (or, backward, writes) all four phases: an interleaved
 * group of four that the compiler turns into vector permutes, instead of four stride-4 gathers.
 * Blocks the crop cuts, and other factors, take the general loops.
 * Built by convolab/native/build.py, driven by convolab/native/shuffle.py.
 */
#include <stdint.h>
#include <string.h>

#define PARALLEL_MIN 65536

static inline float relu1(float v) { return v < 0.0f ? 0.0f : v; } /* NaN kept, as torch.relu */

/* one low-res pixel xp (4 * O values, phase-minor) -> the 2 x 2 output pixels y00 .. y11 */
static void shuffle2_forward(const float *restrict xp, float *restrict y00, float *restrict y01,
                             float *restrict y10, float *restrict y11, int64_t O, int64_t relu) {
    if (relu)
        for (int64_t o = 0; o < O; o++) {
            y00[o] = relu1(xp[4 * o]), y01[o] = relu1(xp[4 * o + 1]);
            y10[o] = relu1(xp[4 * o + 2]), y11[o] = relu1(xp[4 * o + 3]);
        }
    else
        for (int64_t o = 0; o < O; o++) {
            y00[o] = xp[4 * o], y01[o] = xp[4 * o + 1];
            y10[o] = xp[4 * o + 2], y11[o] = xp[4 * o + 3];
        }
}

/* the general pixel: phases one at a time (any s; a block cut by the crop) */
static void shuffle_pixel_forward(const float *xp, float *y, int64_t n, int64_t i, int64_t j, int64_t O,
                                  int64_t s, int64_t Ho, int64_t Wo, int64_t relu) {
    int64_t ss = s * s;
    for (int64_t a = 0; a < s; a++)
        for (int64_t b = 0; b < s; b++) {
            int64_t r = i * s + a, q = j * s + b;
            if (r >= Ho || q >= Wo) continue;
            float *yp = y + ((n * Ho + r) * Wo + q) * O;
            const float *src = xp + a * s + b;
            for (int64_t o = 0; o < O; o++) yp[o] = relu ? relu1(src[o * ss]) : src[o * ss];
        }
}

void pixel_shuffle_forward(const float *x, float *y, int64_t N, int64_t h, int64_t w, int64_t O,
                           int64_t s, int64_t Ho, int64_t Wo, int64_t relu) {
    int64_t C = O * s * s, hi = (Ho + s - 1) / s, wi = (Wo + s - 1) / s; /* low-res pixels that show */
#pragma omp parallel for schedule(static) if (N * Ho * Wo * O >= PARALLEL_MIN)
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < hi; i++)
            for (int64_t j = 0; j < wi; j++) {
                const float *xp = x + ((n * h + i) * w + j) * C;
                if (s == 2 && 2 * i + 1 < Ho && 2 * j + 1 < Wo) {
                    float *y0 = y + ((n * Ho + 2 * i) * Wo + 2 * j) * O, *y1 = y0 + Wo * O;
                    shuffle2_forward(xp, y0, y0 + O, y1, y1 + O, O, relu);
                } else {
                    shuffle_pixel_forward(xp, y, n, i, j, O, s, Ho, Wo, relu);
                }
            }
}

/* the 2 x 2 output pixels' gradients g00 .. g11 -> one low-res pixel's 4 * O (y: the saved ReLU
 * outputs at the same places, or NULL) */
static void shuffle2_backward(const float *restrict g00, const float *restrict g01, const float *restrict g10,
                              const float *restrict g11, const float *restrict y00, const float *restrict y01,
                              const float *restrict y10, const float *restrict y11, float *restrict gp,
                              int64_t O) {
    if (y00)
        for (int64_t o = 0; o < O; o++) {
            gp[4 * o] = y00[o] <= 0.0f ? 0.0f : g00[o], gp[4 * o + 1] = y01[o] <= 0.0f ? 0.0f : g01[o];
            gp[4 * o + 2] = y10[o] <= 0.0f ? 0.0f : g10[o], gp[4 * o + 3] = y11[o] <= 0.0f ? 0.0f : g11[o];
        }
    else
        for (int64_t o = 0; o < O; o++) {
            gp[4 * o] = g00[o], gp[4 * o + 1] = g01[o];
            gp[4 * o + 2] = g10[o], gp[4 * o + 3] = g11[o];
        }
}

static void shuffle_pixel_backward(const float *gy, const float *y, float *gp, int64_t n, int64_t i, int64_t j,
                                   int64_t O, int64_t s, int64_t Ho, int64_t Wo) {
    int64_t ss = s * s;
    for (int64_t a = 0; a < s; a++)
        for (int64_t b = 0; b < s; b++) {
            int64_t r = i * s + a, q = j * s + b;
            if (r < Ho && q < Wo) {
                int64_t at = ((n * Ho + r) * Wo + q) * O;
                const float *src = gy + at;
                if (y) /* the ReLU's backward: no gradient where its output is <= 0 */
                    for (int64_t o = 0; o < O; o++) gp[o * ss + a * s + b] = y[at + o] <= 0.0f ? 0.0f : src[o];
                else
                    for (int64_t o = 0; o < O; o++) gp[o * ss + a * s + b] = src[o];
            } else { /* cropped away: no gradient */
                for (int64_t o = 0; o < O; o++) gp[o * ss + a * s + b] = 0.0f;
            }
        }
}

void pixel_shuffle_backward(const float *gy, const float *y, float *gx, int64_t N, int64_t h, int64_t w,
                            int64_t O, int64_t s, int64_t Ho, int64_t Wo) {
    int64_t C = O * s * s;
#pragma omp parallel for schedule(static) if (N * h * w * C >= PARALLEL_MIN)
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < h; i++)
            for (int64_t j = 0; j < w; j++) {
                float *gp = gx + ((n * h + i) * w + j) * C;
                if (s == 2 && 2 * i + 1 < Ho && 2 * j + 1 < Wo) {
                    int64_t at = ((n * Ho + 2 * i) * Wo + 2 * j) * O, below = at + Wo * O;
                    const float *y0 = y ? y + at : NULL, *y1 = y ? y + below : NULL;
                    shuffle2_backward(gy + at, gy + at + O, gy + below, gy + below + O, y0, y ? y0 + O : NULL,
                                      y1, y ? y1 + O : NULL, gp, O);
                } else {
                    shuffle_pixel_backward(gy, y, gp, n, i, j, O, s, Ho, Wo);
                }
            }
}
