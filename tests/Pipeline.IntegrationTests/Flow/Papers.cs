using Pipeline.Contracts.Ingest.V1;

namespace Pipeline.IntegrationTests.Flow;

/// <summary>Papers written for these tests, each with an id no other test uses.</summary>
public static class Papers
{
    private static int _next = Random.Shared.Next(10_000, 50_000);

    public static string NewArxivId() => $"2611.{Interlocked.Increment(ref _next):D5}";

    public static Paper ProteinFolding(string? id = null) => Make(id,
        "Predicting protein structure from amino acid sequence with deep learning",
        "We present a neural network that predicts the three-dimensional structure of proteins from their amino acid " +
        "sequence. Trained on structures from the Protein Data Bank, the model folds proteins with atomic accuracy and " +
        "outperforms homology modelling on hard targets, enabling structure prediction for whole proteomes.",
        ["Ada Lovelace", "Rosalind Franklin"], ["q-bio.BM", "cs.LG"]);

    /// <summary>Only the test of late-announced papers uses this text (a recommendation keeps one copy of near-duplicates).</summary>
    public static Paper LunarRegolith(string? id = null) => Make(id,
        "Sintering lunar regolith into bricks with concentrated sunlight",
        "We sinter simulated lunar regolith into load-bearing bricks with a solar concentrator, measure their compressive " +
        "strength and porosity, and estimate the energy a lunar base would need to build a landing pad this way.",
        ["Ada Lovelace", "Grace Hopper"], ["astro-ph.EP", "physics.app-ph"]);

    public static Paper QuantumErrorCorrection(string? id = null) => Make(id,
        "Surface codes below threshold: logical qubits with lower error rates than physical qubits",
        "Quantum error correction protects quantum information by encoding logical qubits in many physical qubits. " +
        "We operate surface codes of growing distance on a superconducting quantum processor and show that the logical " +
        "error rate falls as the code grows, the signature of fault-tolerant quantum computing below threshold.",
        ["Alan Turing"], ["quant-ph"]);

    public static Paper SpeechRecognition(string? id = null) => Make(id,
        "Speech recognition for low-resource languages with self-supervised audio models",
        "Automatic speech recognition needs hours of transcribed audio that most of the world's languages lack. We " +
        "pre-train a self-supervised model on untranscribed speech in hundreds of languages and fine-tune it on one hour " +
        "of labelled data, halving the word error rate on low-resource languages.",
        ["Grace Hopper"], ["cs.CL", "eess.AS"]);

    public static Paper RoboticGrasping(string? id = null) => Make(id,
        "Reinforcement learning of robotic grasping from camera images",
        "We train a robot arm to grasp unseen objects with deep reinforcement learning from raw camera images. " +
        "The policy learns from hundreds of thousands of grasp attempts collected on real robots and reaches a " +
        "high success rate on novel household objects.",
        ["Edsger Dijkstra"], ["cs.RO"]);

    /// <summary>
    /// Near "protein structure prediction" in meaning (cosine about 0.41: enough to be recommended,
    /// below the default alert threshold 0.5) and holding none of its words.
    /// </summary>
    /// <summary>Close in meaning to <see cref="EnzymeDesign"/>, written another way; only the seed paper test uses it.</summary>
    public static Paper EnzymeLanguageModels(string? id = null) => Make(id,
        "Protein language models propose enzymes that catalyse reactions",
        "A protein language model fine-tuned on enzyme families writes novel enzyme sequences; many of them fold, and the expressed enzymes catalyse their reactions in vitro.",
        ["Ada Lovelace", "Rosalind Franklin"], ["q-bio.BM", "cs.LG"]);

    public static Paper EnzymeDesign(string? id = null) => Make(id,
        "Generative models of enzyme sequences",
        "We sample new enzymes from a language model trained on natural sequences and confirm their catalytic activity in the laboratory.",
        ["Frances Arnold"], ["q-bio.BM"]);

    public static Paper MedievalTaxes(string? id = null) => Make(id,
        "Tax registers of medieval northern Italian towns, 1250 to 1400",
        "We transcribe and compare the tax registers of six towns in northern Italy between 1250 and 1400, and trace " +
        "how the burden of taxation shifted between landowners, merchants and artisans after the Black Death.",
        ["Barbara Tuchman"], ["econ.GN"]);

    /// <summary>Uses both words of "metamorphic testing", apart, in a text whose meaning is further from it than 0.45.</summary>
    public static Paper MetamorphicPerception(string? id = null) => Make(id,
        "Perception failures of autonomous vehicles in winter",
        "We check a camera perception stack under snow, fog and low sun. Metamorphic relations between transformed " +
        "frames of the same scene reveal failures that months of field testing missed.",
        ["Margaret Hamilton"], ["cs.SE", "cs.CV"]);

    /// <summary>Shares one word ("testing") with "metamorphic testing" and little of its meaning.</summary>
    public static Paper WinterTyres(string? id = null) => Make(id,
        "Winter field testing of tyres on frozen lakes",
        "We measure braking distances of twelve winter tyres on ice and packed snow at four temperatures, and rank them by grip.",
        ["Margaret Hamilton"], ["physics.app-ph"]);

    // The papers below are each submitted by one test only. A text submitted by several tests under
    // several ids is a near-duplicate of itself (cosine 1): a recommendation keeps one copy of it,
    // whichever scores best, so a test that waits for its own copy must have a text of its own.

    /// <summary>Has every word of "protein structure prediction" in its title (lexical evidence), and is not a copy of <see cref="ProteinFolding"/>.</summary>
    public static Paper ProteinBinders(string? id = null) => Make(id,
        "Protein structure prediction guides the design of new binders",
        "We use predicted structures of target proteins to design small binding proteins, and test forty designs in the laboratory.",
        ["David Baker"], ["q-bio.BM"]);

    public static Paper HoneybeeColonies(string? id = null) => Make(id,
        "Honeybee colony collapse: mites, pesticides and the loss of forage",
        "We follow four hundred honeybee colonies over three winters and attribute each collapse to varroa mites, pesticide exposure or poor forage.",
        ["Karl von Frisch"], ["q-bio.PE"]);

    public static Paper GlacierMassLoss(string? id = null) => Make(id,
        "Glacier mass loss in the Alps from satellite gravimetry",
        "Monthly gravity fields from two satellites give the mass loss of Alpine glaciers since 2002, in agreement with field measurements.",
        ["Louis Agassiz"], ["physics.geo-ph"]);

    public static Paper DeployableOrigami(string? id = null) => Make(id,
        "Origami folding patterns for deployable structures in space",
        "Folding patterns from origami let large solar arrays and antennas pack small for launch and deploy in orbit without jamming.",
        ["Koryo Miura"], ["physics.app-ph"]);

    private static Paper Make(string? id, string title, string abstractText, string[] authors, string[] categories)
    {
        var paper = new Paper { Id = id ?? NewArxivId(), Version = 1, Title = title, Abstract = abstractText, Source = "integration-test" };
        paper.Authors.AddRange(authors);
        paper.Categories.AddRange(categories);
        return paper;
    }
}
