/* The sub-pixel convolution, conv2d + pixel_shuffle + crop (+ ReLU), as one direct convolution
 * that skips the folded kernel's structurally zero taps, forward and backward, NHWC float32.
 *
 * convolab/engine/plan.py folds UpSampling2D(s) -> Conv2D(k) into one low-resolution convolution with
 * P = O * s * s filters of K x K taps, the filter of output phase (a, b) being p = (o * s + a) * s + b
 * (pixel_shuffle's order). That phase reads only rows u in [U0[a], U1[a]) and columns v in
 * [V0[b], V1[b]) of its window (for s = 2, k = 3: 2 x 2 of the 3 x 3); the other taps are zero by
 * construction. oneDNN multiplies them anyway, on output-channel vectors that a small P (4 for an
 * image's last layer) leaves mostly empty. Here vectors run over the input channels (C a multiple
 * of VL = 16: one AVX-512 register, two AVX2 ones; GCC vector extensions), read straight from NHWC.
 * With wt (P, K, K, C) and x (N, h, w, C), zero outside the image:
 *
 *   y[n][s*i + a][s*j + b][o] = bias[p] + hsum(sum over u in U(a), v in V(b), in that order, of
 *                               x[n][i + u + dh][j + v + dw][:] * wt[p][u][v][:])
 *
 * for rows s*i + a < Ho and columns s*j + b < Wo, hsum a fixed tree over the VL lanes (channel
 * blocks added lane-wise first); relu: then v < 0 -> 0 (NaN kept, as torch.relu).
 * Backward, with g the output gradient (dropped where the saved output y is <= 0 if relu, as
 * threshold_backward; zero where cropped): gx[n][r][q][:] = sum over p, u, v of
 * g(p, i = r - u - dh, j = q - v - dw) * wt[p][u][v][:]; dw[p][u][v][:] and db[p] summed over the
 * pixels of each chunk of CHUNK images in order into the caller's scratch rows, then the chunks
 * added in order. Every sum has a fixed order: exact where the sums are (integers), the same for
 * any number of threads, within rounding of oneDNN's order elsewhere.
 * Built by convolab/native/build.py, driven by convolab/native/subpixel.py.
 */
#include <stdint.h>
#include <string.h>

#define VL 16
#define SMAX 8
#define CHUNK 8
#define PARALLEL_MIN 65536
#define KMAX 16 /* folded window size at most */
#define PMAX 64 /* phases x output channels at most (few: where oneDNN's vectors are empty) */
#define TMAX 8 /* taps per phase and axis at most */
#define MAXC 4096 /* input channels at most (the zero pixel) */

/* A block of VL channels is H vectors of the target's width NL: GCC keeps a 16-lane vector that is
 * summed across a loop in memory where the target's registers hold 8 lanes (every iteration then
 * moves it through the stack in pieces: 10-20x slower on AVX2), so the loops below hold native
 * vectors only. Lane by lane the arithmetic is the same for every width. */
#if defined(__AVX512F__)
#define NL 16
#elif defined(__AVX__)
#define NL 8
#else
#define NL 4
#endif
#define H (VL / NL)

typedef float vn __attribute__((vector_size(4 * NL)));

static inline vn loadn(const float *p) { vn v; memcpy(&v, p, sizeof v); return v; }
static inline void storen(float *p, vn v) { memcpy(p, &v, sizeof v); }
static inline vn splat(float x) {
#if NL == 16
    return (vn){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
#elif NL == 8
    return (vn){x, x, x, x, x, x, x, x};
#else
    return (vn){x, x, x, x};
#endif
}

/* The sums of four blocks' VL lanes, each by the same tree: e[l] = v[l] + v[l + 8], f[l] = e[l] + e[l + 4],
 * then (f[0] + f[1]) + (f[2] + f[3]); with one vector per block, four at once in shuffles. */
static inline void hsum4(vn a[4][H], float *out) {
#if H == 1 && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12))
#define SV __builtin_shufflevector
    vn s01 = SV(a[0][0], a[1][0], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
             SV(a[0][0], a[1][0], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    vn s23 = SV(a[2][0], a[3][0], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
             SV(a[2][0], a[3][0], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    vn f = SV(s01, s23, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
           SV(s01, s23, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    vn f2 = f + SV(f, f, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    vn f4 = f2 + SV(f2, f2, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    out[0] = f4[0], out[1] = f4[4], out[2] = f4[8], out[3] = f4[12];
#undef SV
#else
    for (int k = 0; k < 4; k++) {
        float e[8], f[4];
#if H == 1
        for (int l = 0; l < 8; l++) e[l] = a[k][0][l] + a[k][0][l + 8];
#elif H == 2
        vn ev = a[k][0] + a[k][1]; /* lanes l and l + 8 */
        for (int l = 0; l < 8; l++) e[l] = ev[l];
#else
        vn lo = a[k][0] + a[k][2], hi = a[k][1] + a[k][3]; /* lanes 0-3 + 8-11, 4-7 + 12-15 */
        for (int l = 0; l < 4; l++) e[l] = lo[l], e[l + 4] = hi[l];
#endif
        for (int l = 0; l < 4; l++) f[l] = e[l] + e[l + 4];
        out[k] = (f[0] + f[1]) + (f[2] + f[3]);
    }
#endif
}

typedef struct {
    int64_t N, h, w, C, O, s, K, dh, dw, Ho, Wo, relu;
    int64_t U0[SMAX], U1[SMAX], V0[SMAX], V1[SMAX];
    int64_t P, ph, pw, KKC, T; /* T: every phase's taps per axis (U1 - U0) */
    int64_t RO, CO, Hg, Wg; /* the gradient planes' margins and size (grad_planes) */
    int64_t pa[PMAX], pb[PMAX], po[PMAX]; /* phase p's (a, b, o): no divisions in the loops */
    int32_t tix[PMAX][TMAX * TMAX];       /* phase p's k-th tap: its index u * K + v in the window */
} geom;

static void init_geom(geom *g, const int64_t *d) {
    g->N = d[0], g->h = d[1], g->w = d[2], g->C = d[3], g->O = d[4], g->s = d[5], g->K = d[6];
    g->dh = d[7], g->dw = d[8], g->Ho = d[9], g->Wo = d[10], g->relu = d[11];
    for (int64_t a = 0; a < SMAX; a++)
        g->U0[a] = d[12 + a], g->U1[a] = d[12 + SMAX + a], g->V0[a] = d[12 + 2 * SMAX + a],
        g->V1[a] = d[12 + 3 * SMAX + a];
    g->P = g->O * g->s * g->s;
    g->ph = (g->Ho + g->s - 1) / g->s, g->pw = (g->Wo + g->s - 1) / g->s;
    g->KKC = g->K * g->K * g->C, g->T = g->U1[0] - g->U0[0];
    g->RO = g->K - 1 + g->dh > 0 ? g->K - 1 + g->dh : 0, g->CO = g->K - 1 + g->dw > 0 ? g->K - 1 + g->dw : 0;
    g->Hg = (g->h - g->dh > g->ph ? g->h - g->dh : g->ph) + g->RO;
    g->Wg = (g->w - g->dw > g->pw ? g->w - g->dw : g->pw) + g->CO;
    for (int64_t o = 0, p = 0; o < g->O; o++)
        for (int64_t a = 0; a < g->s; a++)
            for (int64_t b = 0; b < g->s; b++, p++) {
                g->pa[p] = a, g->pb[p] = b, g->po[p] = o;
                for (int64_t du = 0; du < g->T; du++)
                    for (int64_t dv = 0; dv < g->T; dv++)
                        g->tix[p][du * g->T + dv] = (int32_t)((g->U0[a] + du) * g->K + g->V0[b] + dv);
            }
}

static const float ZERO[MAXC]; /* the zero padding's channels */

/* The bodies below take the channel blocks NB = C / VL, the taps per phase and axis T (every phase
 * reads T x T taps: eligible() checks it) and the window K as arguments; they are inlined into a
 * specialisation for the common sub-pixel case (s = 2, k = 3: T = 2, K = 3, one block), where the
 * constant loop bounds unroll, and into a generic caller with the run-time values. */
#define BODY static inline __attribute__((always_inline))

/* the K x K window of input pixels at low-res pixel (i, j): pointers, the zero pixel outside */
BODY void window(const float *xn, const geom *g, int64_t i, int64_t j, const float **win, const int64_t K) {
    int64_t r0 = i + g->dh, q0 = j + g->dw, C = g->C;
    if (r0 >= 0 && q0 >= 0 && r0 + K <= g->h && q0 + K <= g->w) { /* inside: no checks */
        const float *base = xn + (r0 * g->w + q0) * C;
        for (int64_t u = 0; u < K; u++)
            for (int64_t v = 0; v < K; v++) win[u * K + v] = base + (u * g->w + v) * C;
        return;
    }
    for (int64_t u = 0; u < K; u++)
        for (int64_t v = 0; v < K; v++) {
            int64_t r = r0 + u, q = q0 + v;
            win[u * K + v] = r < 0 || r >= g->h || q < 0 || q >= g->w ? ZERO : xn + (r * g->w + q) * C;
        }
}

/* phase p's lane sums at the window win into acc: its T x T taps in order, channel blocks innermost */
BODY void phase_sum(const float **win, const float *wt, const geom *g, int64_t p, const int64_t C, const int64_t TT,
                    const int64_t KK, vn *acc) {
    const float *wp = wt + p * KK * C;
    for (int h = 0; h < H; h++) acc[h] = (vn){0};
    for (int64_t k = 0; k < TT; k++) {
        int64_t t = g->tix[p][k];
        for (int64_t c = 0; c < C; c += VL)
            for (int h = 0; h < H; h++) acc[h] += loadn(win[t] + c + h * NL) * loadn(wp + t * C + c + h * NL);
    }
}

/* NB channel blocks, P phases, T x T taps of a K x K window: constants in the common case */
#define SHAPE const int64_t NB, const int64_t P, const int64_t T, const int64_t K

/* phases p0 .. p0 + 3's outputs (fewer where P ends) at low-res pixel (i, j) from their lane sums */
static inline void store4(float *yn, const float *bias, const geom *g, int64_t p0, int64_t P, int64_t i, int64_t j,
                          vn a[4][H]) {
    float out[4];
    hsum4(a, out);
    for (int64_t p = p0; p < p0 + 4 && p < P; p++) {
        int64_t r = g->s * i + g->pa[p], q = g->s * j + g->pb[p];
        if (r >= g->Ho || q >= g->Wo) continue;
        float val = bias[p] + out[p - p0];
        yn[(r * g->Wo + q) * g->O + g->po[p]] = g->relu && val < 0.0f ? 0.0f : val;
    }
}

BODY void pixel_forward(const float *xn, const float *wt, const float *bias, float *yn, const geom *g, int64_t i,
                        int64_t j, SHAPE) {
    int64_t C = NB * VL, TT = T * T, KK = K * K;
    const float *win[KMAX * KMAX];
    window(xn, g, i, j, win, K);
    for (int64_t p0 = 0; p0 < P; p0 += 4) { /* four phases' sums, reduced together */
        vn a[4][H];
        for (int64_t q = 0; q < 4; q++) {
            if (p0 + q < P)
                phase_sum(win, wt, g, p0 + q, C, TT, KK, a[q]);
            else
                for (int h = 0; h < H; h++) a[q][h] = (vn){0};
        }
        store4(yn, bias, g, p0, P, i, j, a);
    }
}

static void forward_image(const float *xn, const float *wt, const float *bias, float *yn, const geom *g) {
    for (int64_t i = 0; i < g->ph; i++)
        for (int64_t j = 0; j < g->pw; j++) pixel_forward(xn, wt, bias, yn, g, i, j, g->C / VL, g->P, g->T, g->K);
}

/* the common case: an image's last layer after 2x upsampling (one channel out, 3 x 3, C = 16) */
static int common_case(const geom *g) { return g->C == VL && g->P == 4 && g->T == 2 && g->K == 3; }

/* the common case, inside the image: the 16 weight vectors in registers, the taps as fixed
 * offsets from the window's corner; pixels at the border take pixel_forward (the same sums) */
static void forward_common(const float *xn, const float *wt, const float *bias, float *yn, const geom *g) {
    vn W[4][4][H];
    int64_t off[4][4];
    for (int64_t p = 0; p < 4; p++)
        for (int64_t k = 0; k < 4; k++) {
            int64_t t = g->tix[p][k];
            for (int h = 0; h < H; h++) W[p][k][h] = loadn(wt + (p * 9 + t) * VL + h * NL);
            off[p][k] = ((t / 3) * g->w + t % 3) * VL;
        }
    for (int64_t i = 0; i < g->ph; i++)
        for (int64_t j = 0; j < g->pw; j++) {
            int64_t r0 = i + g->dh, q0 = j + g->dw;
            if (r0 < 0 || q0 < 0 || r0 + 3 > g->h || q0 + 3 > g->w) {
                pixel_forward(xn, wt, bias, yn, g, i, j, 1, 4, 2, 3);
                continue;
            }
            const float *base = xn + (r0 * g->w + q0) * VL;
            vn acc[4][H];
            for (int64_t p = 0; p < 4; p++)
                for (int h = 0; h < H; h++) {
                    vn a = {0};
                    for (int64_t k = 0; k < 4; k++) a += loadn(base + off[p][k] + h * NL) * W[p][k][h];
                    acc[p][h] = a;
                }
            store4(yn, bias, g, 0, 4, i, j, acc);
        }
}

void subpixel_forward(const float *x, const float *wt, const float *bias, float *y, const int64_t *dims) {
    geom g;
    init_geom(&g, dims);
    int common = common_case(&g);
#pragma omp parallel for schedule(static) if (g.N * g.ph * g.pw * g.P * g.C >= PARALLEL_MIN)
    for (int64_t n = 0; n < g.N; n++) {
        const float *xn = x + n * g.h * g.w * g.C;
        float *yn = y + n * g.Ho * g.Wo * g.O;
        if (common)
            forward_common(xn, wt, bias, yn, &g);
        else
            forward_image(xn, wt, bias, yn, &g);
    }
}

/* image n's output gradient as planes G (P, Hg, Wg): G[p][i + RO][j + CO] = phase p's gradient at
 * low-res pixel (i, j); zero around, where cropped, and where the ReLU's output is <= 0 */
static void grad_planes(const float *gyn, const float *yn, float *G, const geom *g) {
    memset(G, 0, (size_t)(g->P * g->Hg * g->Wg) * sizeof(float));
    int64_t s = g->s, O = g->O, plane = g->Hg * g->Wg;
    for (int64_t i = 0; i < g->ph; i++)
        for (int64_t a = 0; a < s && s * i + a < g->Ho; a++) {
            const float *grow = gyn + (s * i + a) * g->Wo * O, *yrow = yn ? yn + (s * i + a) * g->Wo * O : NULL;
            for (int64_t b = 0; b < s; b++)
                for (int64_t o = 0; o < O; o++) {
                    float *dst = G + ((o * s + a) * s + b) * plane + (i + g->RO) * g->Wg + g->CO;
                    int64_t n = (g->Wo - b + s - 1) / s; /* columns s * j + b < Wo */
                    if (yrow)
                        for (int64_t j = 0; j < n; j++) {
                            int64_t at = (s * j + b) * O + o;
                            dst[j] = yrow[at] <= 0.0f ? 0.0f : grow[at];
                        }
                    else
                        for (int64_t j = 0; j < n; j++) dst[j] = grow[(s * j + b) * O + o];
                }
        }
}

/* phase p's share of gx at one pixel, channel block c, into acc: sum over its taps of G * wt */
BODY void phase_grad(const float *g0, const float *wt, const geom *g, int64_t p, int64_t c, const int64_t C,
                     const int64_t T, const int64_t K, vn *acc) {
    int64_t a = g->pa[p], b = g->pb[p];
    const float *gp = g0 + p * g->Hg * g->Wg, *wp = wt + p * K * K * C + c;
    for (int h = 0; h < H; h++) acc[h] = (vn){0};
    for (int64_t du = 0; du < T; du++)
        for (int64_t dv = 0; dv < T; dv++) {
            int64_t u = g->U0[a] + du, v = g->V0[b] + dv;
            vn gv = splat(gp[-u * g->Wg - v]);
            for (int h = 0; h < H; h++) acc[h] += gv * loadn(wp + (u * K + v) * C + h * NL);
        }
}

/* gx[r][q][:] = sum over p, u, v of G(p, r - u - dh, q - v - dw) * wt[p][u][v][:]: the phases in
 * four partial sums (p mod 4), added as (0 + 1) + (2 + 3) */
static void grad_input_body(const float *G, const float *wt, float *gxn, const geom *g, SHAPE) {
    int64_t C = NB * VL;
    for (int64_t r = 0; r < g->h; r++)
        for (int64_t q = 0; q < g->w; q++) {
            const float *g0 = G + (r - g->dh + g->RO) * g->Wg + q - g->dw + g->CO;
            for (int64_t c = 0; c < C; c += VL) {
                vn a[4][H], part[H];
                for (int k = 0; k < 4; k++)
                    for (int h = 0; h < H; h++) a[k][h] = (vn){0};
                for (int64_t p = 0; p < P; p++) {
                    phase_grad(g0, wt, g, p, c, C, T, K, part);
                    for (int h = 0; h < H; h++) a[p % 4][h] += part[h];
                }
                for (int h = 0; h < H; h++)
                    storen(gxn + (r * g->w + q) * C + c + h * NL, (a[0][h] + a[1][h]) + (a[2][h] + a[3][h]));
            }
        }
}

/* one image's products into a chunk's row: dw (P, K, K, C) then db (P), pixel by pixel in order */
static void grad_weight_body(const float *xn, const float *G, float *part, const geom *g, SHAPE) {
    int64_t C = NB * VL, plane = g->Hg * g->Wg;
    float *db = part + P * K * K * C;
    const float *win[KMAX * KMAX];
    for (int64_t i = 0; i < g->ph; i++)
        for (int64_t j = 0; j < g->pw; j++) {
            window(xn, g, i, j, win, K);
            const float *g0 = G + (i + g->RO) * g->Wg + j + g->CO;
            for (int64_t p = 0; p < P; p++) {
                int64_t a = g->pa[p], b = g->pb[p];
                float gs = g0[p * plane];
                vn gv = splat(gs);
                db[p] += gs;
                for (int64_t du = 0; du < T; du++)
                    for (int64_t dv = 0; dv < T; dv++) {
                        int64_t t = (g->U0[a] + du) * K + g->V0[b] + dv;
                        float *pd = part + (p * K * K + t) * C;
                        for (int64_t c = 0; c < C; c += NL) storen(pd + c, loadn(pd + c) + gv * loadn(win[t] + c));
                    }
            }
        }
}

/* the common case's gx: every tap of every phase at a fixed offset in the planes (they have margins),
 * the 16 weight blocks at hand; the same sums as grad_input_body */
static void grad_input_common(const float *G, const float *wt, float *gxn, const geom *g) {
    vn W[4][4][H];
    int64_t off[4][4], plane = g->Hg * g->Wg;
    for (int64_t p = 0; p < 4; p++)
        for (int64_t k = 0; k < 4; k++) {
            int64_t t = g->tix[p][k];
            for (int h = 0; h < H; h++) W[p][k][h] = loadn(wt + (p * 9 + t) * VL + h * NL);
            off[p][k] = p * plane - (t / 3) * g->Wg - t % 3;
        }
    for (int64_t r = 0; r < g->h; r++)
        for (int64_t q = 0; q < g->w; q++) {
            const float *g0 = G + (r - g->dh + g->RO) * g->Wg + q - g->dw + g->CO;
            vn acc[4][H];
            for (int64_t p = 0; p < 4; p++) {
                vn a[H];
                for (int h = 0; h < H; h++) a[h] = (vn){0};
                for (int64_t k = 0; k < 4; k++) {
                    vn gv = splat(g0[off[p][k]]);
                    for (int h = 0; h < H; h++) a[h] += gv * W[p][k][h];
                }
                for (int h = 0; h < H; h++) acc[p][h] = (vn){0} + a[h];
            }
            for (int h = 0; h < H; h++)
                storen(gxn + (r * g->w + q) * VL + h * NL, (acc[0][h] + acc[1][h]) + (acc[2][h] + acc[3][h]));
        }
}

/* the common case's weight and bias gradients, one phase at a time (its 4 tap sums stay in registers;
 * all 16 would not fit AVX2's), pixel by pixel in order as grad_weight_body; taps as fixed offsets
 * inside the image, the window at its border */
static void grad_weight_common(const float *xn, const float *G, float *part, const geom *g) {
    int64_t plane = g->Hg * g->Wg;
    float *db = part + 4 * 9 * VL;
    const float *win[9];
    for (int64_t p = 0; p < 4; p++) {
        vn A[4][H];
        int64_t off[4];
        float B = db[p];
        for (int64_t k = 0; k < 4; k++) {
            int64_t t = g->tix[p][k];
            for (int h = 0; h < H; h++) A[k][h] = loadn(part + (p * 9 + t) * VL + h * NL);
            off[k] = ((t / 3) * g->w + t % 3) * VL;
        }
        const float *gp = G + p * plane + g->RO * g->Wg + g->CO;
        for (int64_t i = 0; i < g->ph; i++)
            for (int64_t j = 0; j < g->pw; j++) {
                float gs = gp[i * g->Wg + j];
                vn gv = splat(gs);
                int64_t r0 = i + g->dh, q0 = j + g->dw;
                B += gs;
                if (r0 >= 0 && q0 >= 0 && r0 + 3 <= g->h && q0 + 3 <= g->w) {
                    const float *base = xn + (r0 * g->w + q0) * VL;
                    for (int64_t k = 0; k < 4; k++)
                        for (int h = 0; h < H; h++) A[k][h] += gv * loadn(base + off[k] + h * NL);
                } else {
                    window(xn, g, i, j, win, 3);
                    for (int64_t k = 0; k < 4; k++)
                        for (int h = 0; h < H; h++) A[k][h] += gv * loadn(win[g->tix[p][k]] + h * NL);
                }
            }
        db[p] = B;
        for (int64_t k = 0; k < 4; k++)
            for (int h = 0; h < H; h++) storen(part + (p * 9 + g->tix[p][k]) * VL + h * NL, A[k][h]);
    }
}

static void backward_image(const float *xn, const float *wt, const float *G, float *gxn, float *part,
                           const geom *g) {
    if (common_case(g)) {
        if (gxn) grad_input_common(G, wt, gxn, g);
        grad_weight_common(xn, G, part, g);
    } else {
        if (gxn) grad_input_body(G, wt, gxn, g, g->C / VL, g->P, g->T, g->K);
        grad_weight_body(xn, G, part, g, g->C / VL, g->P, g->T, g->K);
    }
}

/* gx may be NULL (the input needs no gradient); y is the saved output where relu, else NULL.
 * scratch: (ceil(N / CHUNK), P * K * K * C + P); planes: (ceil(N / CHUNK), P, Hg, Wg) (see
 * subpixel.py). dw (P, K, K, C), db (P). */
void subpixel_backward(const float *x, const float *wt, const float *gy, const float *y, float *gx, float *dw,
                       float *db, float *scratch, float *planes, const int64_t *dims) {
    geom g;
    init_geom(&g, dims);
    int64_t nw = g.P * g.KKC, row = nw + g.P, chunks = (g.N + CHUNK - 1) / CHUNK, np = g.P * g.Hg * g.Wg;
    memset(scratch, 0, (size_t)(chunks * row) * sizeof(float));
#pragma omp parallel for schedule(static) if (g.N * g.ph * g.pw * g.P * g.C >= PARALLEL_MIN)
    for (int64_t k = 0; k < chunks; k++) {
        int64_t end = (k + 1) * CHUNK < g.N ? (k + 1) * CHUNK : g.N;
        float *G = planes + k * np;
        for (int64_t n = k * CHUNK; n < end; n++) {
            int64_t in = n * g.h * g.w * g.C, out = n * g.Ho * g.Wo * g.O;
            grad_planes(gy + out, y ? y + out : NULL, G, &g);
            backward_image(x + in, wt, G, gx ? gx + in : NULL, scratch + k * row, &g);
        }
    }
    memset(dw, 0, (size_t)nw * sizeof(float));
    memset(db, 0, (size_t)g.P * sizeof(float));
    for (int64_t k = 0; k < chunks; k++) { /* in order: the same sums for any number of threads */
        const float *part = scratch + k * row;
        for (int64_t e = 0; e < nw; e++) dw[e] += part[e];
        for (int64_t p = 0; p < g.P; p++) db[p] += part[nw + p];
    }
}
