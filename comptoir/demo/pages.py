"""The demo shop's trust and legal pages: French templates for the five pages a French shop
must show (services.pages.REQUIRED_SLUGS), written once into an empty `pages` table.

They are *templates*: the company's identity is left as « [Raison sociale] »-style
placeholders for the shop owner to fill in the admin (/admin/pages), and delivery figures are
read from the configuration (SHIPPING_FLAT_CENTS, SHIPPING_FREE_THRESHOLD_CENTS,
SHIPPING_METHOD_NAME) when they are written, so the terms of sale agree with what checkout
charges. Not legal advice: a shop owner should have them checked.

`seed_pages` only writes into an empty table (idempotent: `make run` runs the seed every time,
and a page staff edited or deleted is never brought back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_currency
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from comptoir.services import pages as shop_pages
from models import ShopPage

NBSP = "\u00a0"  # French typography: inside « » and before :
NNBSP = "\u202f"  # … and a narrow one before ; ! ?


@dataclass(frozen=True)
class DemoPage:
    slug: str
    title: str
    body: str
    position: int


def _euros(cents: int) -> str:
    return format_currency(Decimal(int(cents)) / 100, "EUR", locale="fr_FR")


def _q(text: str) -> str:
    """« text », with no-break spaces inside the guillemets."""
    return f"«{NBSP}{text}{NBSP}»"


def _shipping_terms(config: Mapping) -> str:
    flat = int(config.get("SHIPPING_FLAT_CENTS", 690))
    threshold = int(config.get("SHIPPING_FREE_THRESHOLD_CENTS", 8000))
    method = config.get("SHIPPING_METHOD_NAME") or "Colissimo"
    if flat <= 0:
        return f"La livraison ({method}) est offerte pour toute commande."
    text = f"Les frais de livraison ({method}) s’élèvent à {_euros(flat)} TTC par commande"
    if threshold > 0:
        text += f"{NNBSP}; ils sont offerts dès {_euros(threshold)} d’achats (TTC)"
    return text + "."


def demo_pages(config: Mapping) -> list[DemoPage]:
    """The five pages, their texts filled in from `config` (shop name, delivery, contact)."""
    shop = config.get("SHOP_NAME") or "Comptoir"
    shipping = _shipping_terms(config)
    contact = config.get("CONTACT_EMAIL") or _q("[adresse e-mail de contact]")
    company = _q("[Raison sociale]")
    address = _q("[adresse du siège social]")
    terms = f"/pages/{shop_pages.TERMS_SLUG}"
    privacy = f"/pages/{shop_pages.PRIVACY_SLUG}"
    delivery = f"/pages/{shop_pages.DELIVERY_SLUG}"
    return [
        DemoPage(
            shop_pages.LEGAL_NOTICE_SLUG,
            "Mentions légales",
            f"""Conformément à l’article 6 de la loi n° 2004-575 du 21 juin 2004 pour la confiance dans
l’économie numérique (LCEN), voici l’identité des intervenants du site {shop}.

## Éditeur du site

- Raison sociale{NBSP}: {company}
- Forme juridique et capital social{NBSP}: {_q("[SAS au capital de … €]")}
- Siège social{NBSP}: {address}
- Immatriculation{NBSP}: {_q("[RCS Ville n° … / SIREN …]")}
- Numéro de TVA intracommunautaire{NBSP}: {_q("[FR…]")}
- Directeur ou directrice de la publication{NBSP}: {_q("[Prénom Nom]")}
- Contact{NBSP}: {contact}, ou par [le formulaire de contact](/contact)

## Hébergeur

- {_q("[Nom de l’hébergeur]")}
- {_q("[Adresse de l’hébergeur]")}
- {_q("[Téléphone de l’hébergeur]")}

## Propriété intellectuelle

Les textes, photographies, logos et l’ensemble des contenus de ce site sont la propriété de
{company} ou des artisans qui nous les confient. Toute reproduction sans autorisation
écrite est interdite.

## Données personnelles et cookies

Voir notre [politique de confidentialité]({privacy}).
""",
            10,
        ),
        DemoPage(
            shop_pages.TERMS_SLUG,
            "Conditions générales de vente",
            f"""Les présentes conditions générales de vente (CGV) s’appliquent à toute commande passée
sur le site {shop}, édité par {company} (voir les [mentions légales](/pages/mentions-legales)),
par un client consommateur. Passer commande vaut acceptation des CGV en vigueur à la date
de la commande.

## 1. Produits

Nos produits sont des pièces artisanales, fabriquées à la main{NBSP}: de légères
variations de teinte, de forme ou de dimensions par rapport aux photographies sont le
propre du fait main et ne constituent pas un défaut.

## 2. Prix

Les prix sont indiqués en euros, toutes taxes comprises (TTC). {shipping} Le montant total
de la commande, frais de livraison compris, est affiché avant le paiement.

## 3. Commande et paiement

La commande est ferme une fois le paiement accepté. Le paiement s’effectue par carte
bancaire via notre prestataire de paiement sécurisé{NNBSP}; nous n’avons jamais accès aux
numéros de carte. Un e-mail de confirmation récapitule la commande.

## 4. Livraison

Nous livrons en France métropolitaine et dans l’Union européenne. {shipping}
Les délais et modalités sont détaillés sur la page [livraison et retours]({delivery}).

## 5. Droit de rétractation

Conformément aux articles L221-18 et suivants du Code de la consommation, vous disposez
d’un délai de **14 jours** à compter de la réception de votre commande pour vous rétracter,
sans avoir à justifier de motif. Pour l’exercer, informez-nous de votre décision par une
déclaration dénuée d’ambiguïté (par e-mail à {contact} ou par [le formulaire de
contact](/contact)), en indiquant votre numéro de commande. Vous pouvez utiliser le modèle
de formulaire ci-dessous.

Renvoyez les produits au plus tard 14 jours après nous avoir informés de votre décision,
complets et dans leur état d’origine. Les frais de retour sont à votre charge. Nous vous
remboursons la totalité des sommes versées, frais de livraison initiaux compris (à hauteur
du mode de livraison standard), dans les 14 jours suivant la réception de votre décision,
par le même moyen de paiement{NNBSP}; nous pouvons différer le remboursement jusqu’à
réception des produits.

Le droit de rétractation ne s’applique pas aux produits confectionnés selon vos
spécifications ou nettement personnalisés (article L221-28 du Code de la consommation).

> **Modèle de formulaire de rétractation** — À l’attention de {company}, {address},
> {contact}{NBSP}: je vous notifie par la présente ma rétractation du contrat portant sur la
> vente du bien ci-dessous{NBSP}: [produit], commandé le [date] / reçu le [date], numéro
> de commande [numéro]. Nom{NBSP}: [nom]. Adresse{NBSP}: [adresse]. Date et signature (en
> cas d’envoi papier).

## 6. Garanties légales

Tous nos produits bénéficient de la garantie légale de conformité (articles L217-3 et
suivants du Code de la consommation), pendant deux ans à compter de la livraison, et de la
garantie contre les vices cachés (articles 1641 et suivants du Code civil). En cas de
défaut, contactez-nous{NBSP}: nous proposons la réparation ou le remplacement du produit,
ou à défaut son remboursement.

## 7. Données personnelles

Les données nécessaires à la commande sont traitées comme l’explique notre [politique de
confidentialité]({privacy}).

## 8. Réclamations et médiation

Pour toute réclamation, écrivez-nous d’abord à {contact}. À défaut d’accord, vous pouvez
recourir gratuitement au médiateur de la consommation{NBSP}: {_q("[nom et coordonnées du médiateur]")}.

## 9. Droit applicable

Les présentes CGV sont soumises au droit français.
""",
            20,
        ),
        DemoPage(
            shop_pages.PRIVACY_SLUG,
            "Politique de confidentialité et cookies",
            f"""{company} ({address}) est responsable du traitement des données personnelles
collectées sur {shop}. Nous ne collectons que ce qui est nécessaire, nous ne vendons
aucune donnée et nous n’affichons pas de publicité.

## Données collectées et finalités

- **Commandes**{NBSP}: nom, adresse de livraison, e-mail et téléphone éventuel, pour
  exécuter le contrat de vente (livraison, facturation, service après-vente).
- **Compte client** (facultatif){NBSP}: e-mail, nom, mot de passe chiffré, adresses
  enregistrées, pour faciliter vos commandes.
- **Formulaire de contact**{NBSP}: nom, e-mail et message, pour vous répondre.
- **Sécurité**{NBSP}: adresses IP, de façon limitée, pour protéger le site contre les abus.

## Durées de conservation

Les données de commande sont conservées pendant la durée légale de conservation des pièces
comptables (10 ans). Votre compte est conservé jusqu’à ce que vous nous demandiez de le
supprimer. Les messages du formulaire de contact nous parviennent par e-mail{NBSP}: le site
n’en garde pas copie une fois l’e-mail envoyé.

## Destinataires

Vos données sont destinées à {company} et, pour ce qui les concerne, à nos prestataires{NBSP}:
le prestataire de paiement, le transporteur et l’hébergeur du site, tenus à la
confidentialité.

## Vos droits

Vous disposez d’un droit d’accès, de rectification, d’effacement, de limitation,
d’opposition et de portabilité de vos données. Écrivez-nous à {contact}. Vous pouvez aussi
introduire une réclamation auprès de la CNIL (www.cnil.fr).

## Cookies

Le site n’utilise que des cookies nécessaires à son fonctionnement, exemptés de
consentement{NBSP}:

| Cookie | Rôle | Durée |
|---|---|---|
| `session` | connexion à votre compte, sécurité des formulaires | fin de la navigation |
| `remember_token` | {_q("rester connecté")}, si vous le demandez | 30 jours |
| `cart` | retrouver votre panier | 30 jours |
| `lang` | langue choisie | 1 an |
| `consent` | votre choix sur la mesure d’audience, s’il vous est demandé | 1 an |

Aucun outil de mesure d’audience n’est chargé sans votre accord.
""",
            30,
        ),
        DemoPage(
            shop_pages.DELIVERY_SLUG,
            "Livraison et retours",
            f"""## Livraison

{shipping}

Nous livrons en France métropolitaine et dans l’Union européenne. Chaque pièce est emballée
à la main avec soin, dans des matériaux recyclés. Les commandes sont préparées sous 2 à 3
jours ouvrés{NNBSP}; comptez ensuite 2 à 4 jours ouvrés en France et 4 à 8 jours vers
l’Union européenne. Vous recevez un e-mail avec le suivi du colis à l’expédition.

## Colis abîmé

Si le colis est endommagé à la réception, indiquez-le au transporteur et envoyez-nous des
photos dans les 48 heures{NBSP}: nous remplaçons ou remboursons la pièce.

## Retours

Vous disposez de **14 jours** après réception pour changer d’avis (voir l’article 5 des
[conditions générales de vente]({terms})). Écrivez-nous avec votre numéro de commande par
[le formulaire de contact](/contact){NNBSP}; nous vous indiquons l’adresse de retour. Les
frais de retour sont à votre charge, et le remboursement intervient sous 14 jours.

Les pièces personnalisées ou faites sur commande ne peuvent pas être retournées, sauf
défaut.
""",
            40,
        ),
        DemoPage(
            shop_pages.CONTACT_SLUG,
            "Nous contacter",
            """Une question sur une pièce, une commande ou une livraison{NNBSP}? Écrivez-nous avec le
formulaire ci-dessous{NBSP}: nous répondons en général sous deux jours ouvrés. Pour une
commande, pensez à indiquer son numéro.
""".replace("{NBSP}", NBSP).replace("{NNBSP}", NNBSP),
            50,
        ),
    ]


def seed_pages(session: Session, config: Mapping) -> int:
    """Write the demo pages when the `pages` table is empty; how many were written (0 when the
    shop already has pages: they are the owner's now). Flushes, the caller commits."""
    if session.scalar(select(func.count(ShopPage.id))):
        return 0
    pages = demo_pages(config)
    for page in pages:
        session.add(
            ShopPage(
                slug=page.slug,
                title=page.title,
                body=page.body,
                position=page.position,
                in_footer=True,
                is_published=True,
            )
        )
    session.flush()
    return len(pages)
