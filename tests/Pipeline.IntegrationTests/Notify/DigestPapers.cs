using Pipeline.Contracts.Ingest.V1;
using Pipeline.IntegrationTests.Flow;

namespace Pipeline.IntegrationTests.Notify;

/// <summary>
/// A paper and an interest per digest test, each on a topic no other test uses: rank leaves
/// near-duplicates out of a recommendation list, so two tests sharing a text would see only one copy.
/// </summary>
public static class DigestPapers
{
    public static (string Interest, Paper Paper) CoralReefs() => Make("coral reef bleaching during marine heatwaves",
        "Coral bleaching across the Great Barrier Reef during successive marine heatwaves",
        "We map coral bleaching on the Great Barrier Reef from aerial surveys during three marine heatwaves and relate it to accumulated heat stress, finding that reefs bleached before recover less.");

    public static (string Interest, Paper Paper) Sourdough() => Make("microbial communities of sourdough starters",
        "Bacteria and yeasts of sourdough starters from home bakers on four continents",
        "We sequence the microbes of five hundred sourdough starters and find that lactic acid bacteria and yeasts co-occur in a few stable communities that shape the bread's rise and aroma.");

    public static (string Interest, Paper Paper) VolcanicAsh() => Make("forecasting volcanic ash clouds for aviation",
        "Forecasting volcanic ash dispersion for air traffic with ensemble transport models",
        "Volcanic ash endangers jet engines. We run ensembles of atmospheric transport models fed with satellite retrievals of an eruption column and forecast ash concentration along flight routes.");

    public static (string Interest, Paper Paper) Honeybees() => Make("honeybee waggle dance communication",
        "Decoding the honeybee waggle dance: how foragers share the distance and direction of flowers",
        "We film thousands of waggle dances in observation hives and decode the angle and duration of each run, showing how honeybee foragers recruit nestmates to distant flower patches.");

    public static (string Interest, Paper Paper) Glaciers() => Make("glacier calving in Greenland",
        "Iceberg calving at Greenland's marine-terminating glaciers observed with terrestrial radar",
        "Terrestrial radar interferometry records iceberg calving at three Greenland outlet glaciers every minute for a summer, linking calving events to ocean melt at the glacier front.");

    public static (string Interest, Paper Paper) AncientDna() => Make("ancient DNA preserved in permafrost",
        "Ancient environmental DNA from Siberian permafrost reveals a vanished mammoth steppe",
        "Sediment cores from Siberian permafrost hold environmental DNA of plants and animals over fifty thousand years, tracing the decline of the mammoth steppe ecosystem.");

    public static (string Interest, Paper Paper) StreetTrees() => Make("street trees cooling urban heat islands",
        "How much do street trees cool a city? Thermal imaging of urban heat islands",
        "Airborne thermal imaging of three European cities during heatwaves shows that street tree canopy lowers surface temperature of pavements by several degrees and reduces the urban heat island.");

    public static (string Interest, Paper Paper) Exoplanets() => Make("exoplanet atmospheres with transmission spectroscopy",
        "Water and carbon dioxide in a hot Jupiter atmosphere from JWST transmission spectroscopy",
        "Transmission spectra of a transiting hot Jupiter taken with the James Webb Space Telescope show absorption by water vapour and carbon dioxide, constraining the planet's metallicity.");

    public static (string Interest, Paper Paper) BirdMigration() => Make("tracking bird migration with weather radar",
        "Nocturnal bird migration across North America measured by the weather radar network",
        "Weather radars detect millions of migrating birds each night. We extract migration density and flight direction from a decade of radar scans and forecast peak migration nights.");

    public static (string Interest, Paper Paper) Batteries() => Make("lithium-ion battery degradation",
        "Predicting lithium-ion battery degradation from early charge and discharge cycles",
        "We predict the cycle life of lithium-ion cells from the voltage curves of their first hundred cycles, using features of capacity fade that separate long-lived from short-lived batteries.");

    public static (string Interest, Paper Paper) WildfireSmoke() => Make("wildfire smoke and respiratory health",
        "Wildfire smoke exposure and hospital admissions for asthma in the western United States",
        "Linking satellite estimates of fine particulate matter from wildfire smoke to hospital records, we find asthma admissions rise on smoke days, most among children and older adults.");

    public static (string Interest, Paper Paper) TidalEnergy() => Make("tidal stream turbines for renewable energy",
        "Wake interactions between tidal stream turbines in a narrow channel",
        "Flume experiments and simulations of arrays of tidal stream turbines show how wakes of upstream rotors reduce the power of those behind, and which spacings recover most of the energy.");

    public static (string Interest, Paper Paper) Monsoon() => Make("forecasting monsoon rainfall",
        "Seasonal forecasts of Indian summer monsoon rainfall from ocean heat content",
        "Upper-ocean heat content in the Indian Ocean predicts the onset and strength of the summer monsoon months ahead; a statistical model built on it beats dynamical seasonal forecasts of rainfall.");

    public static (string Interest, Paper Paper) PeatBogs() => Make("carbon storage in peat bogs",
        "How much carbon do northern peat bogs store? Cores from two hundred bogs",
        "Peat cores from two hundred bogs across Scandinavia and Canada show how fast sphagnum moss buries carbon, and how drainage turns the bogs from carbon sinks into sources.");

    public static (string Interest, Paper Paper) Lichens() => Make("lichen symbiosis in arctic tundra",
        "Fungal and algal partners of lichens across the Arctic tundra",
        "We sequence the fungal and algal partners of lichens sampled along a transect of the Arctic tundra and show that the symbiosis changes partners with temperature and snow cover.");

    /// <summary>A second paper on <see cref="Lichens"/>' interest, from another angle (not a near-duplicate).</summary>
    public static Paper LichenGrowth() => Make("lichen symbiosis in arctic tundra",
        "Slow growth of lichens on Arctic tundra rocks over thirty years",
        "Photographs of the same tundra boulders taken over thirty years show Arctic lichens growing less than a millimetre a year, faster where the snow melts early.").Item2;

    public static (string Interest, Paper Paper) ChurchBells() => Make("the acoustics of church bells",
        "Tuning of medieval church bells: partials measured in forty towers",
        "We record the partial frequencies of medieval bells in forty church towers and compare them with the tuning rules of bell founders.");

    public static (string Interest, Paper Paper) ChessEndgames() => Make("chess endgame tablebases",
        "Seven-piece chess endgame tablebases compressed for phones",
        "We compress the seven-piece chess endgame tablebases by a factor of forty with a learned move predictor, so that perfect endgame play fits on a phone.");

    public static (string Interest, Paper Paper) SeaOtters() => Make("sea otters and kelp forest recovery",
        "Sea otters return and kelp forests regrow along the Californian coast",
        "Twenty years of dive surveys show kelp forests regrowing where sea otters returned, as the otters eat the sea urchins that graze kelp down to barren rock.");

    public static (string Interest, Paper Paper) StainedGlass() => Make("corrosion of medieval stained glass",
        "Why medieval stained glass windows weather: potash glass corroded by condensation",
        "Electron microscopy of window panes from six cathedrals shows that potash-rich medieval glass corrodes where condensation lingers, and that protective glazing slows the loss.");

    public static (string Interest, Paper Paper) CheeseRinds() => Make("microbes of cheese rinds",
        "The fungi and bacteria that ripen washed-rind cheeses in twelve caves",
        "Swabs from washed-rind cheeses aged in twelve caves show each cave seeding its own rind community, which sets the cheese's colour and smell within three weeks.");

    public static (string Interest, Paper Paper) WhaleSong() => Make("humpback whale song recorded by hydrophones",
        "Humpback whale song changes across an ocean basin, recorded by seafloor hydrophones",
        "Five years of seafloor hydrophone recordings show humpback whale song themes spreading eastward across the Pacific within two breeding seasons.");

    private static (string, Paper) Make(string interest, string title, string abstractText)
    {
        var paper = new Paper { Id = Papers.NewArxivId(), Version = 1, Title = title, Abstract = abstractText, Source = "integration-test" };
        paper.Authors.AddRange(["Marie Curie", "Dorothy Hodgkin", "Lise Meitner", "Chien-Shiung Wu"]);
        paper.Categories.AddRange(["physics.gen-ph", "q-bio.PE"]);
        return (interest, paper);
    }
}
