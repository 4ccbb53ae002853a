"""The policy on onnxruntime: one session per graph, the planner (full DDIM or streaming) and the fast head.

Threading model for the runtime built on top: the planner thread owns `PolicyEngine.planner_*`
sessions (obs encoder, denoiser, chunk decoder) and the control thread owns the `FastHead` (its own
decoder-step session with preallocated, IO-bound buffers). Sessions are never shared between the
two threads, so the fast head never waits on a planner call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from policy_runtime.diffusion.sampling import sample_ddim
from policy_runtime.engine.bundle import GraphSpec, PolicyBundle, load_bundle, verify_session_io
from policy_runtime.engine.providers import select_providers, session_options
from policy_runtime.models.streaming import StreamingBuffer

log = logging.getLogger(__name__)


class GraphSession:
    """One ONNX graph in one onnxruntime session, checked against bundle.json.

    `run` takes named numpy inputs and returns numpy outputs. On CUDA it uses IO binding (inputs
    copied once to the device, outputs bound on the device) and, with ``fp16``, a float16 copy of
    the graph with float32 inputs/outputs kept (needs the `onnx` package; untested without a GPU).
    """

    def __init__(
        self,
        spec: GraphSpec,
        providers: Sequence[str],
        intra_threads: int = 1,
        opt_level: str = "all",
        fp16: bool = False,
    ) -> None:
        self.spec = spec
        self.on_cuda = providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
        model: str | bytes = str(spec.path)
        if fp16 and self.on_cuda:
            import onnx
            from onnxruntime.transformers.float16 import convert_float_to_float16

            model = convert_float_to_float16(onnx.load(str(spec.path)), keep_io_types=True).SerializeToString()
        try:
            self.session = ort.InferenceSession(
                model, session_options(intra_threads, opt_level), providers=list(providers)
            )
        except Exception as e:
            raise ValueError(f"policy bundle file {spec.path}: onnxruntime cannot load it: {e}") from e
        if not fp16:
            verify_session_io(self.session, spec)
        self.input_names = [s.name for s in spec.inputs]
        self.output_names = [s.name for s in spec.outputs]
        self.providers = self.session.get_providers()

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if not self.on_cuda:
            return self.session.run(self.output_names, feeds)
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for name in self.output_names:
            binding.bind_output(name, "cuda")
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()


@dataclass
class PlannerResult:
    """One planner step: what the fast head decodes and what the failure monitor gets."""

    obs_emb: np.ndarray  # [E]
    latent: np.ndarray  # [L, D] the chunk to execute (sample 0)
    latents: np.ndarray  # [B, L, D] all samples
    sampled_actions: np.ndarray  # [B, H, 10] TCP-relative, decoded with the observation's touch held
    evaluations: int  # denoiser calls this step


class PolicyEngine:
    """Sessions for every graph of a bundle plus the planner's numpy diffusion loop."""

    def __init__(
        self,
        bundle: PolicyBundle | str,
        providers: Sequence[str] | None = None,
        planner_threads: int = 1,
        opt_level: str = "all",
        fp16: bool = False,
    ) -> None:
        self.bundle = bundle if isinstance(bundle, PolicyBundle) else load_bundle(bundle, check_graphs=False)
        self.providers = select_providers(providers)
        self.fp16 = fp16
        self.opt_level = opt_level
        g = self.bundle.graphs
        self.obs_encoder = GraphSession(g["obs_encoder"], self.providers, planner_threads, opt_level, fp16)
        self.denoiser = GraphSession(g["denoiser"], self.providers, planner_threads, opt_level, fp16)
        self.decoder_chunk = GraphSession(g["decoder_chunk"], self.providers, planner_threads, opt_level, fp16)
        self._tokenizer_encoder: GraphSession | None = None
        s = self.bundle.shapes
        self.cameras = self.bundle.cameras
        self.latent_shape = (s["latent_steps"], s["latent_dim"])
        self.horizon = s["horizon"]
        self.table = self.bundle.level_timesteps
        self.alphas_cumprod = self.bundle.alphas_cumprod
        log.info("policy engine on %s from %s", self.obs_encoder.providers, self.bundle.root)

    @property
    def tokenizer_encoder(self) -> GraphSession:
        """Loaded on first use (evaluation and tools only)."""
        if self._tokenizer_encoder is None:
            self._tokenizer_encoder = GraphSession(
                self.bundle.graphs["tokenizer_encoder"], self.providers, 1, self.opt_level, self.fp16
            )
        return self._tokenizer_encoder

    def fast_head(self, intra_threads: int = 1) -> FastHead:
        """A new fast head with its own decoder-step session (one per control thread)."""
        return FastHead(self.bundle, self.providers, intra_threads, self.opt_level)

    # -------------------------------------------------------------- graph calls
    def encode_obs(self, images: dict[str, np.ndarray], proprio: np.ndarray, touch: np.ndarray) -> np.ndarray:
        """images: camera -> uint8 [B, To, H, W, 3]; proprio [B, To, 4]; touch [B, To, d] -> [B, E]."""
        feeds = {f"img_{c}": images[c] for c in self.cameras}
        feeds["proprio"] = np.asarray(proprio, np.float32)
        feeds["touch"] = np.asarray(touch, np.float32)
        return self.obs_encoder.run(feeds)[0]

    def eps(self, sample: np.ndarray, timestep: np.ndarray, obs_emb: np.ndarray) -> np.ndarray:
        return self.denoiser.run({"sample": sample, "timestep": timestep, "obs_emb": obs_emb})[0]

    def decode_chunk(self, latent: np.ndarray, touch: np.ndarray) -> np.ndarray:
        """latent [B, L, D], touch per step [B, T, d] -> TCP-relative actions [B, T, 10]."""
        return self.decoder_chunk.run({"latent": latent, "touch": np.asarray(touch, np.float32)})[0]

    # -------------------------------------------------------------- planner
    def sample_latents(self, obs_emb: np.ndarray, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Full DDIM (N denoiser calls) for B samples in one batch: obs_emb [E] -> latents [B, L, D]."""
        emb = np.ascontiguousarray(np.broadcast_to(obs_emb.reshape(1, -1), (num_samples, obs_emb.size)), np.float32)
        x = rng.standard_normal((num_samples, *self.latent_shape), dtype=np.float32)
        return sample_ddim(lambda s, t: self.eps(s, t, emb), x, self.table, self.alphas_cumprod)

    def streaming_buffer(
        self, num_samples: int, rng: np.random.Generator, chunks: int | None = None
    ) -> StreamingBuffer:
        buf = StreamingBuffer(
            num_samples,
            *self.latent_shape,
            self.table,
            self.alphas_cumprod,
            chunks or self.bundle.manifest["diffusion"]["streaming_chunks"],
            rng,
        )
        buf.reset()
        return buf


def planner_step(
    engine: PolicyEngine,
    images: dict[str, np.ndarray],
    proprio: np.ndarray,
    touch: np.ndarray,
    rng: np.random.Generator,
    num_samples: int = 1,
    stream: StreamingBuffer | None = None,
) -> PlannerResult:
    """One planner step for one observation (unbatched inputs: images [To, H, W, 3], proprio [To, 4],
    touch [To, d]). Full DDIM for `num_samples` chunks in one batch, or one streaming observation when
    `stream` is given (its batch is the sample count). Samples are decoded with the newest touch held."""
    emb = engine.encode_obs({c: images[c][None] for c in engine.cameras}, proprio[None], touch[None])[0]
    if stream is None:
        latents = engine.sample_latents(emb, num_samples, rng)
        evals = len(engine.table)
    else:
        b = stream.shape[0]
        emb_b = np.ascontiguousarray(np.broadcast_to(emb, (b, emb.size)), np.float32)
        out = stream.observe(lambda s, t: engine.eps(s, t, emb_b))
        latents, evals = out.latent, out.evaluations
    held = np.ascontiguousarray(np.broadcast_to(touch[-1], (len(latents), engine.horizon, touch.shape[-1])), np.float32)
    actions = engine.decode_chunk(latents, held)
    return PlannerResult(emb, latents[0], latents, actions, evals)


class FastHead:
    """The reactive head: one GRU step per control tick with the newest touch, allocation-free.

    Usage per chunk: ``start(latent, touch_since_obs)`` replays the decoder over the touch readings
    since the chunk's observation (latency compensation: the GRU state catches up to "now"); then
    ``step(touch)`` at every tick returns the next TCP-relative action (a view of an internal buffer;
    copy it to keep it).
    """

    def __init__(
        self, bundle: PolicyBundle, providers: Sequence[str], intra_threads: int = 1, opt_level: str = "all"
    ) -> None:
        spec = bundle.graphs["decoder_step"]
        self.graph = GraphSession(spec, providers, intra_threads, opt_level)
        s = bundle.shapes
        self.latent = np.zeros((1, s["latent_steps"], s["latent_dim"]), np.float32)
        self.touch = np.zeros((1, s["touch_dim"]), np.float32)
        self.hidden = np.zeros((1, 1, s["gru_hidden"]), np.float32)
        self.action = np.zeros((1, s["action_dim"]), np.float32)
        self.hidden_out = np.zeros_like(self.hidden)
        self.hidden_prev = np.zeros_like(self.hidden)  # the state before the last step, for `restep`
        self.ticks = 0  # steps decoded since `start`
        # Scratch copies for `warm`: the same step on the same data, written where no state lives.
        live = {"latent": self.latent, "touch": self.touch, "hidden": self.hidden, "action": self.action}
        self._scratch = {k: np.zeros_like(v) for k, v in {**live, "hidden_out": self.hidden_out}.items()}
        self._binding = self._warm_binding = None
        if not self.graph.on_cuda:  # CPU: bind numpy buffers once; each tick only writes into them
            self._binding = self._bind(self.latent, self.touch, self.hidden, self.action, self.hidden_out)
            self._warm_binding = self._bind(*self._scratch.values())

    def _bind(self, latent: np.ndarray, touch: np.ndarray, hidden: np.ndarray, action: np.ndarray, hidden_out):
        b = self.graph.session.io_binding()
        for name, arr in (("latent", latent), ("touch", touch), ("hidden", hidden)):
            b.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(arr))
        b.bind_ortvalue_output("action", ort.OrtValue.ortvalue_from_numpy(action))
        b.bind_ortvalue_output("hidden_out", ort.OrtValue.ortvalue_from_numpy(hidden_out))
        return b

    def start(self, latent: np.ndarray, touch_since_obs: np.ndarray | None = None) -> None:
        """New chunk: set the latent [L, D], zero the GRU, replay the touch readings [k, d] since its observation."""
        self.latent[0] = latent
        self.hidden.fill(0.0)
        self.ticks = 0
        if touch_since_obs is not None:
            for t in touch_since_obs:
                self.step(t)

    def step(self, touch: np.ndarray) -> np.ndarray:
        """One tick: newest touch [d] -> action [10] (TCP-relative, in the frame of the chunk's observation)."""
        self.hidden_prev[:] = self.hidden
        return self._run(touch)

    def restep(self, touch: np.ndarray) -> np.ndarray:
        """Decode the last step again with a newer touch [d] (a control tick between two action steps)."""
        self.hidden[:] = self.hidden_prev
        self.ticks -= 1
        return self._run(touch)

    def warm(self) -> np.ndarray:
        """The next step's decode on scratch copies of its inputs; the head's state is untouched.

        Run just before a tick is due, it brings the step's code, weights and buffers back into the caches after a
        control period asleep (`FastLoop` prewarm; bench/bench_policy.py). Returns the scratch action."""
        sc = self._scratch
        sc["latent"][:] = self.latent
        sc["touch"][:] = self.touch
        sc["hidden"][:] = self.hidden
        if self._warm_binding is not None:
            self.graph.session.run_with_iobinding(self._warm_binding)
        else:
            sc["action"][:], sc["hidden_out"][:] = self.graph.run(
                {"latent": sc["latent"], "touch": sc["touch"], "hidden": sc["hidden"]}
            )
        return sc["action"][0]

    def _run(self, touch: np.ndarray) -> np.ndarray:
        self.touch[0] = touch
        if self._binding is not None:
            self.graph.session.run_with_iobinding(self._binding)
        else:
            a, h = self.graph.run({"latent": self.latent, "touch": self.touch, "hidden": self.hidden})
            self.action[:] = a
            self.hidden_out[:] = h
        self.hidden[:] = self.hidden_out
        self.ticks += 1
        return self.action[0]


def fast_head_step(
    session: GraphSession, latent: np.ndarray, touch: np.ndarray, hidden: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pure one-tick decode: latent [L, D], touch [d], hidden [1, 1, h] -> (action [10], hidden [1, 1, h])."""
    a, h = session.run(
        {"latent": latent[None].astype(np.float32), "touch": touch[None].astype(np.float32), "hidden": hidden}
    )
    return a[0], h
