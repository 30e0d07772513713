"""The demo shop's words and colours (French: the brand's language). Used by comptoir/demo/seed.py.

A category has product lines; a line's name is a pattern where `{m}` is a motif (« Lune »),
`{c}` a colour name and `{v}` a line-specific variant (a wood, a scent, a stone…). Colours are
(name, main hex, accent hex); variants are (name,) or (name, hex) where the hex tints the
drawing's `variant_role` colour.
"""

# ruff: noqa: E501  (French product copy reads better on one line than cut mid-sentence)

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LineSpec:
    name: str
    kind: str  # a drawer of comptoir/demo/photos (DRAWERS)
    price_range: tuple[int, int]  # cents, VAT included
    description: str
    variants: tuple[tuple[str, ...], ...] = ()
    variant_role: str = "main"


@dataclass(frozen=True)
class CategorySpec:
    slug: str
    name: str
    description: str
    sku_prefix: str
    lines: tuple[LineSpec, ...]
    motifs: tuple[str, ...]
    colours: tuple[tuple[str, str, str], ...]
    story: tuple[str, ...]
    care: str
    alt_detail: str  # "{c}" colour name, "{v}" variant name
    vat_rate_bp: int = 2000
    metal: str | None = None
    extra: dict = field(default_factory=dict)


WALLS = (
    ("crème", "efe6dc", "d9c9b6"),
    ("sable", "e8dccb", "cbb596"),
    ("gris perle", "e4e3df", "c9c6bf"),
    ("rose poudré", "f0dfd9", "d8c0b5"),
    ("vert sauge pâle", "e1e6dc", "c4cbb8"),
    ("bleu brume", "dfe5ea", "c3ccd3"),
    ("terre cuite claire", "efd9c8", "d4b197"),
)

WOODS = (("noyer", "6e4a2f"), ("merisier", "a0603a"), ("frêne", "c9a77c"), ("olivier", "b38f5e"),
         ("chêne", "b08654"), ("hêtre", "c79a6b"))  # fmt: skip
STONES = (("quartz rose", "e8c4c8"), ("labradorite", "4f6a7a"), ("lapis-lazuli", "2a4d9b"),
          ("améthyste", "7b4f9d"), ("grenat", "7a1f2b"), ("aventurine", "3f7d5c"))  # fmt: skip
SCENTS = (("à la figue",), ("au figuier",), ("à la lavande de Provence",), ("au bois de cèdre",),
          ("à la fleur d'oranger",), ("au thé noir",), ("à la verveine",), ("au mimosa",), ("à l'ambre",),
          ("au feu de bois",))  # fmt: skip
# French elision ("d'acacia") lives in the variant itself.
HONEYS = (("de lavande", "d9a33a"), ("de châtaignier", "8a4a14"), ("d'acacia", "e8c766"),
          ("de montagne", "b8781e"), ("de tilleul", "d6b04a"))  # fmt: skip
JAMS = (("de figue", "6b2a3a"), ("d'abricot", "e08a2a"), ("de fraise", "b3202e"), ("de mirabelle", "e0b030"),
        ("de cerise noire", "4a0f1e"))  # fmt: skip
OILS = (
    ("Moulin de Nyons", "8a8a20"),
    ("Domaine des Alpilles", "6b7a2a"),
    ("Vallon des Baux", "a0952a"),
)

CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec(
        slug="ceramique",
        name="Céramique",
        description="Bols, tasses, vases et assiettes tournés à la main dans notre atelier de la Drôme, "
        "en grès et en faïence émaillés. Chaque pièce est unique : l'émail vit à la cuisson.",
        sku_prefix="CER",
        lines=(
            LineSpec(
                "Bol en grès émaillé « {m} »",
                "bowl",
                (2200, 3800),
                "Bol tourné à la main en grès chamotté, émail {c} moucheté et pied laissé brut.",
            ),
            LineSpec(
                "Tasse en grès « {m} »",
                "mug",
                (1800, 2900),
                "Tasse de 25 cl en grès, anse façonnée à la main, émail {c} à l'intérieur comme à l'extérieur.",
            ),
            LineSpec(
                "Vase soliflore « {m} »",
                "vase",
                (3200, 6800),
                "Vase au col étroit pour une tige ou deux, émail {c} satiné, cuisson à 1 280 °C.",
            ),
            LineSpec(
                "Assiette plate en faïence « {m} »",
                "plate",
                (2400, 3600),
                "Assiette de 27 cm en faïence, bord souligné d'un filet, émail {c}.",
            ),
            LineSpec(
                "Saladier en grès « {m} »",
                "bowl",
                (5200, 8900),
                "Grand saladier de 28 cm tourné d'un seul geste, émail {c} épais et généreux.",
            ),
        ),
        motifs=(
            "Lune",
            "Argile",
            "Océan",
            "Brume",
            "Sauge",
            "Rivage",
            "Ardoise",
            "Mistral",
            "Garrigue",
            "Calanque",
            "Aube",
            "Sillon",
        ),
        colours=(
            ("vert céladon", "7fa79a", "2f4858"),
            ("bleu indigo", "33507a", "1d2b40"),
            ("blanc crème", "e9e2d0", "b9a98c"),
            ("terracotta", "b8643f", "6b3a26"),
            ("gris ardoise", "6d7378", "2e3236"),
            ("jaune safran", "d9a43a", "7a5418"),
            ("rose poudré", "d8a9a0", "8a5a55"),
            ("noir mat", "3a3735", "c9a27e"),
        ),
        story=(
            "Façonné par Camille dans notre atelier de Dieulefit.",
            "Chaque pièce est signée sous le pied ; de légères variations font son charme.",
            "Le grès vient d'une carrière à quarante kilomètres de l'atelier.",
        ),
        care="Passe au lave-vaisselle et au micro-ondes.",
        alt_detail="émail {c}",
    ),
    CategorySpec(
        slug="textile",
        name="Textile",
        description="Linge de maison en lin lavé, laine et coton biologique, tissé dans les Vosges "
        "et teint avec des pigments végétaux.",
        sku_prefix="TEX",
        lines=(
            LineSpec(
                "Torchon en lin rayé « {m} »",
                "folded_cloth",
                (1200, 1900),
                "Torchon de 50 × 70 cm en lin lavé, {c}, tissé serré pour bien essuyer.",
            ),
            LineSpec(
                "Nappe en lin lavé « {m} »",
                "folded_cloth",
                (8900, 16900),
                "Nappe de 160 × 250 cm en lin lavé, {c}, ourlets cousus à la main.",
            ),
            LineSpec(
                "Housse de coussin tissée « {m} »",
                "cushion",
                (3400, 5900),
                "Housse de 45 × 45 cm, tissage jacquard {c}, fermeture par boutons en corozo.",
            ),
            LineSpec(
                "Plaid en laine mérinos « {m} »",
                "folded_cloth",
                (12900, 19900),
                "Plaid de 130 × 180 cm en laine mérinos douce, {c}, franges nouées main.",
            ),
            LineSpec(
                "Serviettes de table en lin « {m} » (lot de 4)",
                "folded_cloth",
                (3600, 4800),
                "Quatre serviettes de 45 × 45 cm en lin lavé, {c}, qui s'adoucissent à chaque lavage.",
            ),
        ),
        motifs=(
            "Camargue",
            "Bruyère",
            "Lavandin",
            "Marée",
            "Sillage",
            "Alpage",
            "Grenier",
            "Verger",
        ),
        colours=(
            ("lin naturel à rayures indigo", "d8cbb5", "2f4e79"),
            ("écru à rayures rouge garance", "e6dccb", "a63a2e"),
            ("vert olive à rayures crème", "7d7b4a", "efe6d2"),
            ("bleu ardoise à rayures moutarde", "56677a", "d3a13b"),
            ("rose argile à rayures terre", "d6aa98", "7a4a36"),
            ("gris perle à rayures noires", "c7c5c0", "2d2b2a"),
        ),
        story=(
            "Tissé sur des métiers de 1920 par une filature familiale des Vosges.",
            "Teint à la garance, à l'indigo et au pastel, sans métaux lourds.",
            "Certifié Oeko-Tex ; le lin est cultivé en Normandie.",
        ),
        care="Lavage en machine à 40 °C, séchage à l'air libre.",
        alt_detail="tissu {c}",
    ),
    CategorySpec(
        slug="maroquinerie",
        name="Maroquinerie",
        description="Sacs, portefeuilles et petite maroquinerie en cuir de veau tanné végétal, "
        "coupés et cousus main au point sellier.",
        sku_prefix="MAR",
        lines=(
            LineSpec(
                "Sac cabas « {m} » en cuir {c}",
                "bag",
                (16900, 24000),
                "Grand cabas en cuir pleine fleur {c}, poignées doublées et poche intérieure zippée.",
            ),
            LineSpec(
                "Portefeuille « {m} » en cuir {c}",
                "wallet",
                (5900, 8900),
                "Portefeuille en cuir tanné végétal {c} : huit cartes, billets et monnaie.",
            ),
            LineSpec(
                "Porte-cartes « {m} » en cuir {c}",
                "wallet",
                (2900, 3900),
                "Porte-cartes fin en cuir {c}, quatre emplacements, tranches teintées et lissées.",
            ),
            LineSpec(
                "Sac besace « {m} » en cuir {c}",
                "bag",
                (13900, 19900),
                "Besace en cuir {c} à porter en bandoulière, sangle réglable et fermoir en laiton.",
            ),
            LineSpec(
                "Trousse zippée « {m} » en cuir {c}",
                "wallet",
                (3900, 5400),
                "Trousse en cuir {c} avec fermeture éclair en laiton, idéale pour les stylos ou le maquillage.",
            ),
        ),
        motifs=("Marcel", "Colette", "Jeanne", "Léon", "Simone", "Gaston", "Odette", "Basile"),
        colours=(
            ("cognac", "9a5a2e", "f0dcb4"),
            ("naturel", "c89a6a", "6b4226"),
            ("chocolat", "5a3422", "e8d3b0"),
            ("noir", "2d2826", "d8c7a8"),
            ("bordeaux", "6e2430", "efd9c0"),
            ("vert olive", "5e5e34", "efe2c2"),
        ),
        story=(
            "Coupé et cousu main au point sellier dans notre atelier de Millau.",
            "Le cuir vient d'une tannerie du Puy-en-Velay qui tanne aux extraits d'écorce.",
            "Une patine se forme avec les années : c'est un cuir qui vieillit bien.",
        ),
        care="Nourrir une à deux fois par an avec un baume pour cuir.",
        alt_detail="cuir {c} cousu au point sellier",
        metal="c9a94f",
    ),
    CategorySpec(
        slug="bougies",
        name="Bougies",
        description="Bougies coulées à la main en cire végétale de colza et cire d'abeille, "
        "parfumées à Grasse, mèches en coton.",
        sku_prefix="BOU",
        lines=(
            LineSpec(
                "Bougie parfumée {v}",
                "candle_jar",
                (2400, 3900),
                "Bougie de 180 g coulée dans un pot en verre recyclé, cire {c}, 40 heures de combustion.",
                SCENTS,
            ),
            LineSpec(
                "Bougie pilier en cire d'abeille « {m} »",
                "pillar",
                (1600, 2800),
                "Bougie pilier de 15 cm en pure cire d'abeille {c}, au doux parfum de miel.",
            ),
            LineSpec(
                "Grande bougie trois mèches {v}",
                "candle_jar",
                (4800, 6500),
                "Grande bougie de 600 g à trois mèches, cire {c}, pour parfumer toute une pièce.",
                SCENTS,
            ),
            LineSpec(
                "Bougie de voyage {v}",
                "candle_jar",
                (1200, 1600),
                "Petite bougie de 80 g, cire {c}, à glisser dans une valise.",
                SCENTS,
            ),
        ),
        motifs=("Veillée", "Hiver", "Solstice", "Grenier", "Chandeleur", "Minuit"),
        colours=(
            ("ivoire", "f3eadb", "5b6e4f"),
            ("miel", "e7c98a", "3b4a5a"),
            ("rose thé", "edd0c4", "7a4a50"),
            ("sauge", "cfd8c0", "4a4038"),
            ("blanc", "f7f3ec", "2d3a4a"),
        ),
        story=(
            "Coulée à la main à Grasse, par petites séries.",
            "Parfums sans CMR, formulés par un parfumeur grassois.",
            "Le pot se réutilise : il suffit de le rincer à l'eau chaude.",
        ),
        care="Couper la mèche à 5 mm avant chaque allumage ; ne jamais laisser brûler sans surveillance.",
        alt_detail="cire {c}, flamme allumée",
    ),
    CategorySpec(
        slug="bijoux",
        name="Bijoux",
        description="Bijoux en laiton doré à l'or fin et en argent 925 recyclé, "
        "façonnés et sertis à la main à Lyon.",
        sku_prefix="BIJ",
        lines=(
            LineSpec(
                "Bague « {m} » en {v}",
                "ring",
                (4500, 12000),
                "Bague {c} sertie d'un cabochon en {v}, ajustable.",
                STONES,
                "accent",
            ),
            LineSpec(
                "Collier pendentif « {m} »",
                "necklace",
                (3900, 8900),
                "Chaîne fine de 42 cm {c} et pendentif serti d'un cabochon en {v}.",
                STONES,
                "accent",
            ),
            LineSpec(
                "Créoles « {m} »",
                "earrings",
                (2900, 5900),
                "Créoles de 2 cm {c}, ornées d'une perle en {v}.",
                STONES,
                "accent",
            ),
            LineSpec(
                "Bague solitaire « {m} »",
                "ring",
                (8900, 24000),
                "Solitaire {c} serti griffes d'une pierre facettée en {v}.",
                STONES,
                "accent",
            ),
        ),
        motifs=("Étoile", "Goutte", "Lierre", "Soleil", "Écume", "Clémence", "Opale", "Astrée"),
        colours=(
            ("en laiton doré à l'or fin", "c9a94f", "2a6db0"),
            ("en argent 925 recyclé", "c0c4c8", "6b4a8a"),
            ("en vermeil rosé", "d4a08a", "3f7d5c"),
        ),
        story=(
            "Façonné à la main par Inès dans son atelier de la Croix-Rousse.",
            "Livré dans un écrin en carton recyclé, prêt à offrir.",
            "L'argent est recyclé et affiné en France.",
        ),
        care="Éviter le contact avec l'eau et les parfums ; ranger à l'abri de l'air.",
        alt_detail="bijou {c}, pierre en {v}",
        extra={"colour_role": "metal"},
    ),
    CategorySpec(
        slug="bois-tourne",
        name="Bois tourné",
        description="Bols, planches et ustensiles tournés ou sculptés dans des bois français, "
        "finis à l'huile alimentaire.",
        sku_prefix="BOI",
        lines=(
            LineSpec(
                "Bol en {v} tourné « {m} »",
                "wood_bowl",
                (3400, 7900),
                "Bol tourné d'une seule pièce en {v}, fini à l'huile de lin alimentaire.",
                WOODS,
            ),
            LineSpec(
                "Cuillère à salade en {v}",
                "spoon",
                (1400, 2600),
                "Cuillère sculptée au couteau en {v}, manche long et cuilleron profond.",
                WOODS,
            ),
            LineSpec(
                "Planche à découper en {v}",
                "board",
                (3900, 8900),
                "Planche taillée dans le fil du bois, en {v}, avec une poignée percée pour la suspendre.",
                WOODS,
            ),
            LineSpec(
                "Saladier en {v} « {m} »",
                "wood_bowl",
                (8900, 16900),
                "Grand saladier de 30 cm tourné en {v}, veinage mis en valeur par l'huile.",
                WOODS,
            ),
        ),
        motifs=("Forêt", "Clairière", "Sous-bois", "Tilleul", "Colline", "Vallon"),
        colours=(("huilé", "a86b3c", "a86b3c"), ("ciré", "b07a48", "b07a48")),
        story=(
            "Tourné par Antoine dans son atelier du Jura, à partir d'arbres tombés ou élagués.",
            "Le bois a séché deux ans avant d'être travaillé.",
            "Chaque veinage est unique : la pièce reçue peut différer légèrement de la photo.",
        ),
        care="Laver à la main, sécher aussitôt ; nourrir d'huile de temps en temps.",
        alt_detail="bois tourné en {v}, veines apparentes",
    ),
    CategorySpec(
        slug="epicerie-fine",
        name="Épicerie fine",
        description="Les produits de nos voisins producteurs : miels, confitures et huiles d'olive de la vallée.",
        sku_prefix="EPI",
        vat_rate_bp=550,  # food: reduced VAT rate 5.5 %
        lines=(
            LineSpec(
                "Miel {v}",
                "food_jar",
                (900, 1600),
                "Pot de 250 g de miel {v}, récolté et mis en pot par un apiculteur de la Drôme.",
                HONEYS,
            ),
            LineSpec(
                "Confiture {v}",
                "food_jar",
                (650, 950),
                "Confiture {v} cuite au chaudron en cuivre, 65 % de fruits, pot de 220 g.",
                JAMS,
            ),
            LineSpec(
                "Huile d'olive vierge extra « {v} »",
                "bottle",
                (1600, 2800),
                "Bouteille de 50 cl d'huile d'olive vierge extra du {v}, première pression à froid.",
                OILS,
            ),
        ),
        motifs=("Récolte", "Été", "Automne"),
        colours=(
            ("vichy rouge", "b03a2e", "f4ecd8"),
            ("vichy vert", "4f7a4a", "f4ecd8"),
            ("vichy bleu", "3a5a8a", "f4ecd8"),
        ),
        story=(
            "Produit à moins de cinquante kilomètres de l'atelier.",
            "Récolte de l'année, en quantité limitée.",
            "Sans additif ni conservateur.",
        ),
        care="À conserver à l'abri de la lumière.",
        alt_detail="en bocal de verre, couvercle {c}",
        extra={"colour_role": "metal"},
    ),
)
