"""avt_np/predict.py: the one prediction loop."""

import numpy as np

from avt_np.model import AudiovisualTransformer, ModelConfig
from avt_np.predict import predict


def test_predict_runs_in_eval_mode_and_leaves_the_model_as_it_found_it():
    config = ModelConfig(d_model=8, d_head=4, heads=2, d_ff=8, blocks=2,
                         dims={"audio": 5, "video": 6})
    model = AudiovisualTransformer(config)
    rng = np.random.default_rng(0)
    clips = {"audio": rng.random((3, 10, 5), dtype=np.float32),
             "video": rng.random((3, 10, 6), dtype=np.float32)}

    class Split:
        def batch(self, idx):
            return {**{m: x[idx] for m, x in clips.items()}, "lengths": None}

        def __len__(self):
            return 3

    results = []
    for training in (True, False, True):
        model.train(training)
        out = predict(model, Split(), config, batch_size=2, attention=True)
        blocks, probs = out.cross_attention, out.probabilities
        assert model.training is training and model.decoder[0].cross_attn.out_dropout.training is training
        assert len(blocks) == 2 and blocks[-1].shape == (3, 2, 10, 10)
        results.append(probs)
    np.testing.assert_array_equal(results[0], results[1])      # no dropout inside: same numbers
    np.testing.assert_array_equal(results[0], results[2])
