using System.Globalization;
using System.Text;

namespace Pipeline.Benchmarks;

/// <summary>
/// Synthetic but realistic papers and subscriber interests for <see cref="LoadHeld"/>: 24 research
/// topics, each with its tasks, methods, data and the interests a reader of it would type. Titles
/// follow arXiv's usual shapes; abstracts are 1 to 16 sentences (about 25 to 450 words, so some
/// are cut at 256 word pieces by embed, as long real abstracts are), mostly on one topic with a
/// borrowed term from another now and then, plus a few off-topic papers no interest is about.
/// Deterministic for a seed.
/// </summary>
public sealed class LoadHeldCorpus(int seed = 7)
{
    private readonly Random _random = new(seed);

    private sealed record Topic(string Field, string Category, string[] Interests, string[] Tasks, string[] Methods, string[] Data, string[] Challenges);

    private static readonly Topic[] Topics =
    [
        new("generative modelling", "cs.CV", ["diffusion models for image generation", "text-to-image synthesis", "fast sampling of diffusion models"],
            ["image generation", "text-to-image synthesis", "image inpainting", "super-resolution"], ["latent diffusion", "consistency distillation", "score matching", "flow matching"],
            ["ImageNet 256x256", "MS-COCO captions", "LAION subsets"], ["the cost of many sampling steps", "poor prompt alignment", "memorisation of training images"]),
        new("large language models", "cs.CL", ["instruction tuning of large language models", "reasoning in large language models", "efficient inference for LLMs"],
            ["mathematical reasoning", "instruction following", "long-context question answering", "code generation"], ["chain-of-thought prompting", "preference optimisation", "speculative decoding", "mixture-of-experts routing"],
            ["GSM8K", "MMLU", "HumanEval", "LongBench"], ["hallucinated answers", "the quadratic cost of attention", "brittle multi-step reasoning"]),
        new("protein science", "q-bio.BM", ["protein structure prediction", "protein design with deep learning", "molecular docking"],
            ["protein structure prediction", "inverse folding", "binding affinity estimation", "enzyme design"], ["equivariant graph networks", "protein language models", "SE(3) diffusion", "geometric transformers"],
            ["CASP15 targets", "the Protein Data Bank", "CATH domains"], ["scarce labelled structures", "conformational flexibility", "evaluation leakage between splits"]),
        new("reinforcement learning", "cs.LG", ["offline reinforcement learning", "reinforcement learning for robotic grasping", "reward modelling"],
            ["offline policy learning", "robotic grasping", "multi-agent coordination", "exploration in sparse-reward tasks"], ["conservative Q-learning", "model-based planning", "actor-critic methods", "world models"],
            ["D4RL", "Atari 100k", "MuJoCo locomotion tasks"], ["distribution shift between data and policy", "sample inefficiency", "unstable value estimates"]),
        new("speech processing", "eess.AS", ["speech recognition for low-resource languages", "text-to-speech synthesis", "speaker diarization"],
            ["automatic speech recognition", "speech synthesis", "speaker verification", "spoken language understanding"], ["self-supervised speech encoders", "connectionist temporal classification", "neural vocoders", "conformer networks"],
            ["LibriSpeech", "Common Voice", "VoxCeleb"], ["little transcribed audio", "accented and noisy speech", "real-time latency budgets"]),
        new("quantum computing", "quant-ph", ["quantum error correction", "variational quantum algorithms", "quantum machine learning"],
            ["quantum error correction", "ground-state estimation", "quantum circuit compilation", "quantum state tomography"], ["surface codes", "variational quantum eigensolvers", "tensor network simulation", "neural decoders"],
            ["superconducting qubit devices", "trapped-ion processors", "simulated noisy circuits"], ["decoherence", "barren plateaus in training", "limited qubit connectivity"]),
        new("computer vision", "cs.CV", ["object detection", "semantic segmentation", "3D reconstruction from images"],
            ["object detection", "semantic segmentation", "monocular depth estimation", "multi-view 3D reconstruction"], ["vision transformers", "neural radiance fields", "Gaussian splatting", "contrastive pretraining"],
            ["COCO", "ADE20K", "ScanNet", "KITTI"], ["small and occluded objects", "domain shift across cameras", "expensive dense annotation"]),
        new("graph learning", "cs.LG", ["graph neural networks", "link prediction in knowledge graphs", "molecular property prediction"],
            ["node classification", "link prediction", "molecular property prediction", "graph generation"], ["message-passing networks", "graph transformers", "spectral filters", "positional encodings"],
            ["OGB benchmarks", "QM9", "citation networks"], ["over-smoothing in deep models", "heterophilous graphs", "scaling to billions of edges"]),
        new("software testing", "cs.SE", ["automated test generation", "flaky tests", "mutation testing"],
            ["unit test generation", "flaky test detection", "regression test selection", "fuzzing of compilers"], ["search-based testing", "LLM-based test generation", "coverage-guided fuzzing", "mutation analysis"],
            ["Defects4J", "open-source Java projects", "continuous integration logs"], ["non-deterministic test outcomes", "the oracle problem", "long test suite run times"]),
        new("robotics", "cs.RO", ["robot manipulation", "legged locomotion", "simultaneous localization and mapping"],
            ["dexterous manipulation", "legged locomotion", "visual SLAM", "motion planning"], ["sim-to-real transfer", "diffusion policies", "model predictive control", "imitation learning"],
            ["real quadruped robots", "tabletop manipulation scenes", "the EuRoC dataset"], ["the reality gap", "contact-rich dynamics", "few demonstrations"]),
        new("federated learning", "cs.LG", ["federated learning", "differential privacy in machine learning", "privacy attacks on models"],
            ["federated optimisation", "private model training", "membership inference", "personalised federated learning"], ["secure aggregation", "DP-SGD", "client sampling strategies", "gradient compression"],
            ["FEMNIST", "Shakespeare next-character prediction", "medical imaging sites"], ["heterogeneous client data", "communication cost", "the privacy-utility trade-off"]),
        new("recommender systems", "cs.IR", ["recommender systems", "dense retrieval for search", "learning to rank"],
            ["sequential recommendation", "dense passage retrieval", "click-through-rate prediction", "query reformulation"], ["two-tower models", "contrastive retrieval training", "graph-based collaborative filtering", "cross-encoders"],
            ["MS MARCO", "MovieLens", "Amazon reviews"], ["popularity bias", "cold-start items", "latency limits of online serving"]),
        new("climate and weather", "physics.ao-ph", ["machine learning for weather forecasting", "climate model emulation", "extreme event attribution"],
            ["medium-range weather forecasting", "precipitation nowcasting", "climate downscaling", "extreme heat prediction"], ["graph neural weather models", "spherical Fourier operators", "ensemble diffusion forecasts", "physics-informed networks"],
            ["ERA5 reanalysis", "CMIP6 simulations", "radar composites"], ["long rollouts that drift", "rare extremes", "calibrated uncertainty"]),
        new("medical imaging", "eess.IV", ["medical image segmentation", "deep learning for radiology", "histopathology image analysis"],
            ["tumour segmentation", "chest X-ray classification", "whole-slide image analysis", "MRI reconstruction"], ["U-Net variants", "foundation models for pathology", "multiple-instance learning", "self-supervised pretraining"],
            ["BraTS", "CheXpert", "TCGA slides"], ["label noise from clinicians", "scanner differences between hospitals", "small annotated cohorts"]),
        new("natural language processing", "cs.CL", ["machine translation", "named entity recognition", "summarization of long documents"],
            ["neural machine translation", "named entity recognition", "abstractive summarisation", "cross-lingual transfer"], ["multilingual encoders", "sequence-to-sequence transformers", "retrieval-augmented generation", "span-based tagging"],
            ["WMT news test sets", "CoNLL-2003", "arXiv and PubMed articles"], ["low-resource language pairs", "factual inconsistency", "long inputs"]),
        new("causal inference", "stat.ME", ["causal inference from observational data", "treatment effect estimation", "causal discovery"],
            ["heterogeneous treatment effect estimation", "causal structure learning", "off-policy evaluation", "instrumental variable analysis"], ["double machine learning", "causal forests", "score-based structure search", "propensity weighting"],
            ["the IHDP benchmark", "synthetic structural causal models", "a large A/B testing platform"], ["unobserved confounding", "limited overlap between groups", "identifiability"]),
        new("optimisation for deep learning", "cs.LG", ["optimizers for training neural networks", "learning rate schedules", "scaling laws"],
            ["large-batch training", "hyperparameter transfer", "loss landscape analysis", "compute-optimal scaling"], ["adaptive gradient methods", "second-order preconditioning", "warmup-stable-decay schedules", "sharpness-aware minimisation"],
            ["CIFAR-10", "language modelling on C4", "ImageNet training runs"], ["training instability at scale", "costly hyperparameter sweeps", "poor generalisation of sharp minima"]),
        new("autonomous driving", "cs.RO", ["autonomous driving perception", "trajectory prediction", "end-to-end driving"],
            ["motion forecasting", "bird's-eye-view perception", "end-to-end planning", "lidar object detection"], ["occupancy networks", "transformer-based forecasting", "multi-sensor fusion", "closed-loop simulation"],
            ["nuScenes", "the Waymo Open Dataset", "CARLA"], ["long-tail scenarios", "interaction between agents", "safety validation"]),
        new("statistics", "stat.ML", ["Bayesian inference", "conformal prediction", "hypothesis testing"],
            ["uncertainty quantification", "multiple hypothesis testing", "posterior sampling", "distribution-free prediction intervals"], ["variational inference", "Markov chain Monte Carlo", "conformal calibration", "e-values"],
            ["simulated regression problems", "UCI datasets", "genome-wide association data"], ["miscalibrated uncertainty", "high-dimensional posteriors", "false discoveries"]),
        new("security", "cs.CR", ["adversarial robustness", "malware detection", "jailbreaking language models"],
            ["adversarial example defence", "malware classification", "backdoor detection", "prompt injection defence"], ["adversarial training", "certified robustness via randomised smoothing", "static binary analysis", "red-teaming"],
            ["CIFAR-10 under attack", "the EMBER malware corpus", "jailbreak prompt collections"], ["adaptive attackers", "concept drift in threats", "the cost of robustness"]),
        new("materials science", "cond-mat.mtrl-sci", ["machine learning for materials discovery", "interatomic potentials", "crystal structure prediction"],
            ["crystal structure prediction", "molecular dynamics acceleration", "battery materials screening", "catalyst discovery"], ["machine-learned interatomic potentials", "equivariant message passing", "active learning loops", "generative crystal models"],
            ["the Materials Project", "Open Catalyst 2020", "DFT relaxation trajectories"], ["expensive DFT labels", "extrapolation to new chemistries", "long simulation time scales"]),
        new("astronomy", "astro-ph.GA", ["galaxy formation", "exoplanet detection", "gravitational wave astronomy"],
            ["exoplanet transit detection", "galaxy morphology classification", "gravitational-wave parameter estimation", "photometric redshift estimation"], ["simulation-based inference", "convolutional classifiers", "normalising flows", "Gaussian process light-curve models"],
            ["TESS light curves", "Sloan Digital Sky Survey images", "LIGO-Virgo events"], ["faint and noisy signals", "selection effects", "expensive simulations"]),
        new("human-computer interaction", "cs.HC", ["user studies of AI assistants", "accessibility technology", "visualization"],
            ["programming assistance", "screen reader navigation", "interactive data visualisation", "crowdsourced annotation"], ["mixed-methods user studies", "participatory design", "controlled experiments", "log analysis"],
            ["think-aloud sessions with developers", "blind and low-vision participants", "visualisation dashboards"], ["over-reliance on AI suggestions", "inaccessible interfaces", "small study populations"]),
        new("efficient machine learning", "cs.LG", ["model compression and quantization", "knowledge distillation", "efficient transformers"],
            ["post-training quantisation", "structured pruning", "knowledge distillation", "on-device inference"], ["int8 and 4-bit quantisation", "low-rank adaptation", "teacher-student distillation", "sparse attention"],
            ["edge devices", "BERT and LLaMA checkpoints", "ImageNet classifiers"], ["accuracy loss at low precision", "memory bandwidth limits", "hardware-specific kernels"]),
    ];

    private static readonly string[] OffTopicTitles =
    [
        "Tax registers of medieval Italian towns and the fiscal state", "A survey of bird migration timing in the Baltic region",
        "Soil moisture dynamics under rotational grazing", "The economics of urban bicycle sharing schemes",
        "Ceramic glaze chemistry in Song dynasty kilns", "Hydrodynamics of swimming jellyfish",
    ];

    private static readonly string[] Surnames =
    [
        "Lovelace", "Turing", "Hopper", "Dijkstra", "Noether", "Ramanujan", "Curie", "Shannon", "Hamilton", "Liskov", "Knuth", "Kovalevskaya",
        "Nakamura", "Okafor", "Haddad", "Silva", "Novak", "Chen", "Garcia", "Müller", "Ivanova", "Kim", "Singh", "Dubois", "Rossi", "Andersson",
    ];

    private static readonly string[] Initials = ["A.", "B.", "C.", "D.", "E.", "F.", "G.", "H.", "J.", "K.", "L.", "M.", "N.", "P.", "R.", "S.", "T.", "Y."];

    private static readonly string[] Fillers =
    [
        "We release our code, trained models and evaluation scripts to support reproducibility.",
        "Extensive ablation studies isolate the contribution of each component of the design.",
        "Our analysis further reveals when and why the approach fails, which suggests directions for future work.",
        "The method adds negligible overhead at inference time and is simple to implement on top of existing pipelines.",
        "We also provide a theoretical analysis that explains the observed behaviour under mild assumptions.",
        "Results are consistent across random seeds, model sizes and hardware configurations.",
        "A user study with practitioners confirms that the improvements matter in realistic settings.",
        "We discuss limitations, including the computational budget required for training and the scope of the evaluation.",
    ];

    /// <summary>Every interest phrase of every topic.</summary>
    public static IReadOnlyList<string> AllInterests { get; } = Topics.SelectMany(t => t.Interests).ToArray();

    public static int TopicCount => Topics.Length;

    /// <summary>One to three interests: two from the subscriber's main topic's area, sometimes one from another.</summary>
    public string[] InterestsFor(int subscriber)
    {
        var topic = Topics[subscriber % Topics.Length];
        var count = 1 + _random.Next(3);
        var interests = new List<string> { Pick(topic.Interests) };
        if (count >= 2)
        {
            interests.Add(Pick(topic.Interests));
        }

        if (count == 3)
        {
            interests.Add(Pick(Pick(Topics).Interests));
        }

        return interests.Distinct().ToArray();
    }

    /// <summary>Paper number <paramref name="i"/>: (title, abstract, categories).</summary>
    public (string Title, string Abstract, string[] Categories, string[] Authors) Paper(int i)
    {
        var authors = Enumerable.Range(0, 1 + _random.Next(8)).Select(_ => $"{Pick(Initials)} {Pick(Surnames)}").Distinct().ToArray();
        if (i % 50 == 49)
        {
            // Off-topic: about nothing anyone subscribed to.
            var title = $"{Pick(OffTopicTitles)}, part {1 + _random.Next(9)}";
            return (title, $"{title}. " + string.Join(' ', Enumerable.Range(0, 2 + _random.Next(4)).Select(_ => Pick(Fillers))), ["econ.GN"], authors);
        }

        var topic = Topics[_random.Next(Topics.Length)];
        var other = Topics[_random.Next(Topics.Length)];
        var task = Pick(topic.Tasks);
        var method = Pick(topic.Methods);
        var data = Pick(topic.Data);
        var name = Acronym();
        var paperTitle = _random.Next(6) switch
        {
            0 => $"{name}: {Capital(method)} for {task}",
            1 => $"Towards robust {task} with {method}",
            2 => $"{Capital(method)} meets {Pick(other.Methods)}: improving {task}",
            3 => $"On the limits of {method} for {task}",
            4 => $"Scaling {method} to {data}",
            _ => $"{name}: {Capital(task)} without {Pick(topic.Challenges)}",
        };

        // Mostly a few sentences, sometimes one, sometimes very long (cut at 256 word pieces by embed).
        var sentences = _random.Next(10) switch
        {
            0 => 1,
            < 7 => 3 + _random.Next(5),
            < 9 => 7 + _random.Next(5),
            _ => 12 + _random.Next(5),
        };
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{Capital(task)} is a central problem in {topic.Field}, yet existing approaches suffer from {Pick(topic.Challenges)}.");
        var templates = new Func<string>[]
        {
            () => $"We propose {name}, which combines {method} with {Pick(topic.Methods)} to address {Pick(topic.Challenges)}.",
            () => $"Unlike prior work on {Pick(topic.Tasks)}, our approach needs neither {Pick(topic.Challenges).Replace("the ", "", StringComparison.Ordinal)} handling nor task-specific tuning.",
            () => $"On {Pick(topic.Data)}, {name} improves over strong baselines by {1 + _random.Next(15)}.{_random.Next(10)} points while using {2 + _random.Next(8)} times less compute.",
            () => $"We show that {method} can be understood as a special case of {Pick(topic.Methods)}, which explains its behaviour on {Pick(topic.Data)}.",
            () => $"Borrowing ideas from {other.Field}, we adapt {Pick(other.Methods)} to {task}.",
            () => $"Experiments on {Pick(topic.Data)} and {Pick(topic.Data)} show consistent gains for {Pick(topic.Tasks)}.",
            () => $"A key ingredient is a new objective that keeps {Pick(topic.Tasks)} stable in the presence of {Pick(topic.Challenges)}.",
            () => Pick(Fillers),
        };
        for (var s = 1; s < sentences; s++)
        {
            text.Append(' ').Append(templates[_random.Next(templates.Length)]());
        }

        var categories = topic.Category == other.Category || _random.Next(3) > 0 ? new[] { topic.Category } : [topic.Category, other.Category];
        return (paperTitle, text.ToString(), categories, authors);
    }

    private string Acronym()
    {
        const string letters = "ABCDEFGHIKLMNPRSTVWXZ";
        var length = 3 + _random.Next(4);
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = letters[_random.Next(letters.Length)];
        }

        return new string(chars) + (_random.Next(4) == 0 ? "-" + (1 + _random.Next(3)).ToString(CultureInfo.InvariantCulture) : "");
    }

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];

    private static string Capital(string s) => char.ToUpperInvariant(s[0]) + s[1..];
}
