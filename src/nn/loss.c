/* loss.c - softmax cross-entropy, numerically stable (max subtraction). */
#include <math.h>

#include "deepsigns/kernels.h"

/* logits[B,C], labels[B] -> mean loss; dlogits[B,C] += scale*(p - onehot)/B */
double ds_softmax_ce(const float *logits, const int *labels, int B, int C, float *probs,
                     float *dlogits, float scale)
{
    double total = 0.0;
    for (int n = 0; n < B; n++) {
        const float *z = logits + (size_t)n * C;
        float mx = z[0];
        for (int c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += exp((double)z[c] - mx);
        double lse = mx + log(sum);
        total += lse - z[labels[n]];
        for (int c = 0; c < C; c++) {
            double p = exp((double)z[c] - lse);
            if (probs) probs[(size_t)n * C + c] = (float)p;
            if (dlogits)
                dlogits[(size_t)n * C + c] += (float)(scale * (p - (c == labels[n])) / B);
        }
    }
    return total / B;
}
