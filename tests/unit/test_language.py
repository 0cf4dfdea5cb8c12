import pytest

from smartsupport.config import Settings
from smartsupport.errors import ConfigError
from smartsupport.language import Language, LanguageDetector, detector, known_codes, review_reason

GERMAN = ("Hallo, seit dem Update gestern kann ich mich nicht mehr in mein Konto einloggen. "
          "Das Passwort habe ich schon zweimal zurückgesetzt, aber es kommt immer dieselbe Fehlermeldung.")
FRENCH = ("Bonjour, ma facture de novembre est incorrecte : j'ai été débité deux fois pour le même "
          "abonnement. Pourriez-vous me rembourser le second paiement s'il vous plaît ?")
SPANISH = ("Hola, el pedido que hice la semana pasada todavía no ha llegado y el número de seguimiento "
           "no muestra ningún movimiento desde el lunes. ¿Pueden decirme dónde está?")
ENGLISH = "Hi, the export to CSV fails with a timeout error since this morning. Can you take a look?"
ITALIAN = "Buongiorno, non riesco ad accedere al mio account da ieri, potete aiutarmi per favore?"


@pytest.fixture(scope="module")
def four():
    return detector(("en", "de", "fr", "es"))


@pytest.mark.parametrize("text, code", [(GERMAN, "de"), (FRENCH, "fr"), (SPANISH, "es"), (ENGLISH, "en")])
def test_a_ticket_is_detected_in_the_language_it_is_written_in(four, text, code):
    found = four.detect(text)

    assert found.code == code and found.confidence >= 0.95


@pytest.mark.parametrize("text", ["refund $299", "check order 00123842 status", "12345 !!", ""])
def test_a_few_words_or_no_letters_leave_the_language_undecided(four, text):
    assert four.detect(text) == Language(None, 0.0)


def test_only_the_listed_languages_are_candidates():
    # Given a deployment that tells apart English and French only
    en_fr = LanguageDetector(["en", "fr"])

    # Then a German ticket is one of those two, never German, and Spanish is no candidate either
    assert en_fr.codes == ("en", "fr")
    assert en_fr.detect(GERMAN).code in ("en", "fr", None)
    assert en_fr.detect(SPANISH).code in ("en", "fr", None)
    assert en_fr.detect(FRENCH).code == "fr"


def test_a_language_that_is_not_listed_is_not_told_apart(four):
    assert four.detect(ITALIAN).code != "it"
    assert LanguageDetector(["en", "de", "fr", "es", "it"]).detect(ITALIAN).code == "it"


def test_the_detector_is_built_once_per_process_for_a_list_of_languages(four):
    assert detector(("en", "de", "fr", "es")) is four
    assert detector(("en", "de")) is not four


def test_a_ticket_in_a_language_the_model_does_not_read_gets_a_review_reason(four):
    reason = review_reason(four.detect(GERMAN), ("en",))

    assert reason is not None and reason.startswith("written in German (de, 1.00)")
    assert reason.endswith("the model reads English only")
    assert review_reason(Language("fr", 0.91), ("en", "de", "es")) == (
        "written in French (fr, 0.91): the model reads English, German and Spanish only")


def test_a_ticket_the_model_reads_or_of_undecided_language_gets_no_review_reason(four):
    assert review_reason(four.detect(ENGLISH), ("en",)) is None
    assert review_reason(four.detect(GERMAN), ("en", "de")) is None
    assert review_reason(Language(None, 0.0), ("en",)) is None


def test_language_codes_are_lower_cased_and_kept_once_in_order():
    assert known_codes(["EN", " de", "fr", "en"]) == ("en", "de", "fr")


@pytest.mark.parametrize("codes, message", [(["en", "xx"], "'xx' is not the ISO 639-1 code"),
                                            (["english"], "'english' is not"), ([], "at least one")])
def test_an_unknown_language_code_is_named(codes, message):
    with pytest.raises(ValueError, match=message):
        known_codes(codes)


def test_the_languages_are_read_from_the_environment(tmp_path):
    default = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path)})
    s = Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path), "SMARTSUPPORT_LANGUAGES": "en, DE,nl",
                           "SMARTSUPPORT_MODEL_LANGUAGES": "en,de"})

    assert default.languages == ("en", "de", "fr", "es") and default.model_languages == ("en",)
    assert s.languages == ("en", "de", "nl") and s.model_languages == ("en", "de")


@pytest.mark.parametrize("name, value, message", [
    ("SMARTSUPPORT_LANGUAGES", "en,de,klingon", "SMARTSUPPORT_LANGUAGES: 'klingon' is not the ISO 639-1 code"),
    ("SMARTSUPPORT_LANGUAGES", " , ", "SMARTSUPPORT_LANGUAGES: must list at least one"),
    ("SMARTSUPPORT_MODEL_LANGUAGES", "en,zz", "SMARTSUPPORT_MODEL_LANGUAGES: 'zz' is not the ISO 639-1 code"),
])
def test_an_unknown_language_in_the_settings_is_a_config_error_naming_it(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"SMARTSUPPORT_DATA_DIR": str(tmp_path), name: value})
