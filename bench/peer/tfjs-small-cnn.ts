// The MNIST SmallCNN (TRADES / YOPO papers) written in tfjs-core ops, as the peer's training workload.
// NHWC, as TensorFlow.js prefers: [B,28,28,1] → conv 1→32 3x3 valid, ReLU → conv 32→32, ReLU → maxpool 2
// → conv 32→64, ReLU → conv 64→64, ReLU → maxpool 2 → flatten 1024 → fc 200, ReLU → fc 200, ReLU → fc 10.
// No dropout (it would add a random mask, not measured work of interest). 312,202 parameters.
// Convs and the hidden fc layers use tf.fused ops (bias + ReLU in the kernel), as tfjs-layers does,
// so the peer gets its best path. Loss: mean softmax cross-entropy. Update: momentum SGD
// (tf.train.momentum, lr 0.01, momentum 0.9: buf = 0.9·buf + g; p -= lr·buf, PyTorch's rule).

import type * as Tf from '@tensorflow/tfjs-core';

type TfModule = typeof Tf;

export interface TfjsTrainingStep {
  /** Records forward, backward and update; the caller syncs the GPU. */
  step(): void;
  readonly parameterCount: number;
  dispose(): void;
}

export function createSmallCnnStep(tf: TfModule, batch: number, seed = 1): TfjsTrainingStep {
  let s = seed;
  // tf.variable() keeps its initial tensor alive too; tidy frees it.
  const param = (make: () => Tf.Tensor) => tf.tidy(() => tf.variable(make()));
  const conv = (cin: number, cout: number) => ({
    w: param(() => tf.randomNormal([3, 3, cin, cout], 0, Math.sqrt(2 / (cin * 9)), 'float32', s++)),
    b: param(() => tf.zeros([cout])),
  });
  const fc = (fanIn: number, fanOut: number) => ({
    w: param(() => tf.randomNormal([fanIn, fanOut], 0, Math.sqrt(1 / fanIn), 'float32', s++)),
    b: param(() => tf.zeros([fanOut])),
  });
  const c1 = conv(1, 32),
    c2 = conv(32, 32),
    c3 = conv(32, 64),
    c4 = conv(64, 64);
  const f1 = fc(1024, 200),
    f2 = fc(200, 200),
    f3 = fc(200, 10);
  const layers = [c1, c2, c3, c4, f1, f2, f3];
  const variables: Tf.Variable[] = layers.flatMap((l) => [l.w, l.b]);

  // Data made once, outside any timed region.
  const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', s++) as Tf.Tensor4D;
  const labels = tf.tidy(() =>
    tf.cast(tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', s++) as Tf.Tensor1D, 10), 'float32'),
  );
  // Typed as the base class: MomentumOptimizer's own signature wants Variables where grads are Tensors.
  const optimizer: Tf.Optimizer = tf.train.momentum(0.01, 0.9);

  const convRelu = (input: Tf.Tensor4D, l: typeof c1) =>
    tf.fused.conv2d({
      x: input,
      filter: l.w as Tf.Variable<Tf.Rank.R4>,
      strides: 1,
      pad: 'valid',
      bias: l.b,
      activation: 'relu',
    });
  const dense = (input: Tf.Tensor2D, l: typeof f1, activation: 'relu' | 'linear') =>
    tf.fused.matMul({ a: input, b: l.w as Tf.Variable<Tf.Rank.R2>, bias: l.b, activation }) as Tf.Tensor2D;

  const loss = (): Tf.Scalar => {
    let h: Tf.Tensor4D = convRelu(convRelu(x, c1), c2);
    h = tf.maxPool(h, 2, 2, 'valid');
    h = convRelu(convRelu(h, c3), c4);
    h = tf.maxPool(h, 2, 2, 'valid');
    let z: Tf.Tensor2D = tf.reshape(h, [batch, 1024]);
    z = dense(dense(z, f1, 'relu'), f2, 'relu');
    return tf.losses.softmaxCrossEntropy(labels, dense(z, f3, 'linear')) as Tf.Scalar;
  };

  return {
    parameterCount: variables.reduce((n, v) => n + v.size, 0),
    step() {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(loss, variables);
        optimizer.applyGradients(grads);
      });
    },
    dispose() {
      optimizer.dispose();
      // MomentumOptimizer.dispose() forgets the learning-rate scalar of its SGD base class (tfjs 4.22).
      tf.dispose((optimizer as unknown as { c?: Tf.Tensor }).c);
      tf.dispose([x, labels, ...variables]);
    },
  };
}
