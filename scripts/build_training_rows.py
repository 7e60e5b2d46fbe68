"""Build verifier training rows from raw public data files (train/dev splits only, no test split of any set).

Reads the raw files that were copied byte-for-byte out of public GitHub repositories into ``--raw`` (one folder per
source, ``<raw>/<source>/<original file name>``; provenance in ``<raw>/MANIFEST.json``), checks every file against the
sha256 pinned in ``SOURCES`` below (repository, commit, path and licence beside each pin; a wrong sha256 stops the
build, a missing file is skipped with a message on stderr, so a partial raw folder still builds) and writes, under
``--out``, one folder per source in the layout of ``shared/data`` (see its README for the schemas):

* pair sources -> ``<folder>/pairs.jsonl`` rows ``{id, a, b, label, kind, subkind, source, split}``; NLI contradiction
  -> label 0, kind ``other``, subkind ``nli_contradiction``. NLI entailment is kept apart, as label 1 (kind
  ``paraphrase``, subkind ``nli_entailment``), in ``<folder>/entailment.jsonl``: entailment is not always same
  meaning, so the trainer decides how to use it. Neutral pairs are dropped.
* intent sources (HWU64, MASSIVE en-US, SNIPS, HINT3, NLU++) -> ``<folder>/questions.jsonl`` rows
  ``{id, text, intent, split, source}``. NLU++ is multi-label: its intent is the domain plus the sorted label set.

Text is normalised as in shared/data (NBSP -> space, whitespace runs collapsed, strip); nothing else is changed
(SNLI keeps e-SNLI's tokenised form). Pairs whose two sides are identical after normalisation are dropped, and so are
repeated pairs. In intent sources a text (compared case-folded) that occurs again with the same intent is kept once;
a text that occurs with two or more intents is dropped altogether. Counts go to stdout as JSON.

Stdlib only. Usage (from the repository root):

    python scripts/build_training_rows.py --raw /work/raw --out /work/rows
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

HWU_DIR = "CrossValidation/autoGeneFromRealAnno/autoGene_2018_03_22-13_01_25_169/CrossValidation/KFold_1/trainset"
SNIPS_DIR = "2017-06-custom-intent-engines"
MNLI_TERMS = (
    "MultiNLI (Williams et al. 2018): OANC text under the OANC's permissive licence; fiction under CC BY-SA 3.0 / "
    "CC BY 3.0 / public domain (MultiNLI paper, section on data). Redistributing repo: MIT (LICENSE.md)"
)

# Pins: source -> repo @ commit, licence (and where it is stated), and sha256 of every raw file as saved.
# ``path`` is the file's path in the repository; {name} is the file name under <raw>/<source>/.
SOURCES: dict[str, dict] = {
    "hwu64": {
        "repo": "xliuhw/NLU-Evaluation-Data",
        "commit": "f6071b496b17d71e6eb43f543af0707f4ff30557",
        "path": HWU_DIR + "/{name}",
        "licence": "CC BY 4.0 (README.md, '## License': 'All data are released under ... CC BY 4.0')",
        "files": {
            "alarm_query.csv": "a02e3793e2dab4452494820e7bb8cbe2859392a2465cb311d6616cffd8d5e26a",
            "alarm_remove.csv": "6f83d668c8d0b46d56e25f61086e4a1a3b1eb06cb222e36882c3b27b4c9fe3d3",
            "alarm_set.csv": "f112bb5d3f8eeec771489b5c5a8b757c80e7beead5627dda3c38d17b1b05899f",
            "audio_volume_down.csv": "a02e55c588deb6f57f5c3e00f3cbcb1e41068b638dbe4fd36e57cc272c8e09b3",
            "audio_volume_mute.csv": "30be508f18d75c9f5a5a225e684a120c97bb2fa0fdef216b8ba016c282ec98aa",
            "audio_volume_up.csv": "0c351d9db1a1fc0cc862f0845c48a6fd4fab69e41bce900e66cb07ad185bcb7c",
            "calendar_query.csv": "3abeb661b13eedf96bb9474b93e4d29f6300beaeebef39812469d7d8093d60ed",
            "calendar_remove.csv": "2e9924e583302846ac32016f96bfe00edf7cea691c6a5b62ac111f1e5b61b4be",
            "calendar_set.csv": "2b2f3f6a1136946ed41e7a3a7779238e8b6709a838b6faac717da82730dd81bc",
            "cooking_recipe.csv": "54625f0a2cd058ce8e1749cb73f7fe6933bd76fce4a27c9a479384a2ecc2cc51",
            "datetime_convert.csv": "6400b51f7b125d5973f4006628da81e8f44a52d5c14042dae7f5f698efdbd9ad",
            "datetime_query.csv": "9b008f31aa73936d02c41ba536cbc20c1869a9b5f1471e852d323c9983bb448a",
            "email_addcontact.csv": "d3568c66bca06cfdb3a43b290324eaa5d938158056fe03b512c4292e9ca8b4fa",
            "email_query.csv": "d858a462d1de4eb1ffeed6271512e9d59c00f5bfb12e68c50e31f6bba927e38f",
            "email_querycontact.csv": "5c59f49e3038f5fe8e83ddb19b43ceed0ed137bbec6340bc0bd9948ff471c4cc",
            "email_sendemail.csv": "8c1dcbca6695bc07f486a37a7b72c6edf16fab4515a335bed591f134b9145aa8",
            "general_affirm.csv": "11606f0ff521a3ff964acb4bec9b0e3b64cfb8687488241526ed9d2e81193134",
            "general_commandstop.csv": "255641b651bac155313bd8814e1f96c1f259e27af93b0cf6a1abce105b4c3d25",
            "general_confirm.csv": "48111f218034ef4a5a72e1af86bc44373103ade92218a0a6b32d31acf40c57d2",
            "general_dontcare.csv": "de74a627bc1b50645ccaf1cd83773feef81e114e5178ca10a3ad5fbf56af22b2",
            "general_explain.csv": "12d51b0657f573335d5daf0b17b277538f336c10a8aa99f5c5167c697c9329cf",
            "general_joke.csv": "0681ffddfa43465eded5ee11b46406a98ffeb1cf561af14ef26eee8d27441720",
            "general_negate.csv": "45c8665a93e38165cd2f2f3334bb493c7982d062872c42b72a06d8740e36b19d",
            "general_praise.csv": "d217239eb2d4018a74b468050969218a9a1417f3fa81bb036cd88f5f26983d69",
            "general_quirky.csv": "6a38c968a6668de0b95848ba127d94dc379674d096fd7baf5fa4757db30efcda",
            "general_repeat.csv": "017e3f9f38cf3d899f776b40bf64f1fbf8d5dde9631f7afe5a9ecd072b145ede",
            "iot_cleaning.csv": "e2824824d52ff1f15fec9eb16d6dac1808e424690aa31cc0d2719db1bb462d4c",
            "iot_coffee.csv": "c22285d1f3e0c1e341f0aa0132f9b4ef62b7bd73f29583718c2554fcb4a4fd3c",
            "iot_hue_lightchange.csv": "416223b3e567858117de92d32fc5cebde62fa6531f88ff1990a5f482ba579396",
            "iot_hue_lightdim.csv": "6e4af4b0d26b156981a8fd741106e97319cde19ef6fc46b37b3c01acf955230d",
            "iot_hue_lightoff.csv": "d9827de9116e8561b9cb96e5a9317c0f9e1e4b32f5476890c0ee1ff8b7aea0c1",
            "iot_hue_lighton.csv": "12eb979c281130e59380d7deb2a63598e5c2b587961de6e8a97e607a760ae1ba",
            "iot_hue_lightup.csv": "7682a1f43185fc4fad91a57923cc953e9f7f3a1f95e4f05dd3be620397160f22",
            "iot_wemo_off.csv": "61182304fec636a995cf4d4c8cb2005b4259fe0c069c8f8190bb3b41c41879ee",
            "iot_wemo_on.csv": "65df438262e1e2e60b5aed6f7b2cc0b0e0b80a7d19b41e3298fb97952e81e095",
            "lists_createoradd.csv": "65724f9aec599acf4938321083f3dacde66b9872427fce47ca3d347b6bbac300",
            "lists_query.csv": "73235e0dd61c5f73b13b1760760cfcf860830db4ed1a0e9529f74950cc7eae58",
            "lists_remove.csv": "1550526e7f398eae0886d04b57fd7b1b3e20b1aac473e8948647d8c882effdd4",
            "music_likeness.csv": "4a39484b385b012181104cf379769ae8edaa70bb9d4738dd312c02b85af577b9",
            "music_query.csv": "e691ec8d58a636e9eddfdd6e93fc3493df8c7aa70912388e15a107d4706f8c14",
            "music_settings.csv": "e4e99ab7cbcb827903a4ad9477d1254a08ccad6d972b22c46853309b910f0096",
            "news_query.csv": "3fd44395cff75ef670283c681f1300b07caf3c5d4afd25a6b2e3514846fb2f7a",
            "play_audiobook.csv": "4e589963d8565c1fab11af766dcb9c9378ce09a5fde271ad92d867f5007e5eac",
            "play_game.csv": "a22bf4eaba82936fa756f0c6c8d8129c0223e7a1f1f7f530fcfa1f086974f975",
            "play_music.csv": "a89b9a14fa995af9730f76e02f126f0f026614b25ae6dd651089f0d50ca5612a",
            "play_podcasts.csv": "a48c14fb7d1b34118af79067a13a6bc8eb24d28679ed94bd906438845c1bcb85",
            "play_radio.csv": "a6c2a3d7489bcba1fcdfcae2609d06b3592ab97bca6201989d7424561b7fe36b",
            "qa_currency.csv": "305dfc5c5b23d3638bdbca50dc27d912bfb61a635bf222c2d907a79b510d9083",
            "qa_definition.csv": "87854973764a1666dad4f8554e920a7352bc8ffe23cff9b0c1897ab34aade0e3",
            "qa_factoid.csv": "24117b9ea6ab00eb38a4f5da3f813009fd83e499ea37d2a4be8b740c3a572bb1",
            "qa_maths.csv": "b379c5fa50df44da84f9a30f0a017fc4ee4a1491b26afc55044ce5584cf2857a",
            "qa_stock.csv": "db6a7d7812ae1a38f07db08edfed4829f637271ccfb1ceadb5ce27e69f8226d2",
            "recommendation_events.csv": "6249726a26db9ca6df90122775e3b666aedbbd53aedc32fd2699972cc06cd929",
            "recommendation_locations.csv": "0745b978915dc3d7abb606b06647c0a5fb7bcb4ba74c89574ad239283976ab6e",
            "recommendation_movies.csv": "471dbc3b861b771f3d850b83522ea7c4c72312047879038ecbddca64e1d5d60b",
            "social_post.csv": "5db0458a2190257913eec43325cc9d06ed51532e4db928e03d3179ce27a20abe",
            "social_query.csv": "4bd3192b789ab88e674ee0e6641c2cb767bab55dbf0d993045e8af63316832c6",
            "takeaway_order.csv": "d02639221a81534f297d81ec65d46a380a7ae0088167604eb4104c12991d4cc6",
            "takeaway_query.csv": "74814b88dbb77727dfde130b51915c131c9e16d101106347a9441d60f095819b",
            "transport_query.csv": "51acdf6b9225a2bfa08bfb0005702bf4c8679537a4e1480bdf7a5239c36b1c5b",
            "transport_taxi.csv": "be4ed42dfc4eb2cc63460c3f21fa6065b5404821799b88867c5e1f7fe3e4b38e",
            "transport_ticket.csv": "dab82ed1c54bc0eb25730797a352788be9b974384232eaca8183d2f8f2961c86",
            "transport_traffic.csv": "ba4ebf6824f59def9b79416a70a6ac02a095403badf9b232f15b481f242413a6",
            "weather_query.csv": "3a7c729444bf2abab8de51dbbed7e477c4b1e5a2098a688fcb593821bf0d1571",
        },
    },
    "massive_en_us": {
        "repo": "muaaznoor/IntentClassificationLSTM",
        "commit": "75c796d911419c8fd4ba52c77cb7d8edcd4a5dfa",
        "path": "data/{name}",
        "licence": (
            "CC BY 4.0 (MASSIVE 1.1, Amazon; data/README.md names the source, HF SetFit/amazon_massive_intent_en-US; "
            "licence text: MASSIVE release 1.1/LICENSE + 1.1/NOTICE.md, e.g. timworks/massive-raw@6d63e32)"
        ),
        "files": {
            "train.jsonl": "5d7acab7dd4ec9f8253dec8571eafd75fa8fc4ef64ad401ef2ac6907d277e1a8",
            "validation.jsonl": "616da8f9a9c33e72ae57f64bac4804f87b92f71712ef7f348f576032f7bf9c6d",
        },
    },
    "snips": {
        "repo": "sonos/nlu-benchmark",
        "commit": "b86ac7f1577868c42158d0dec77db50956046696",
        "path": SNIPS_DIR + "/{intent}/{name}",
        "licence": "CC0 1.0 (LICENSE at repo root); README asks to cite Coucke et al. 2018",
        "files": {
            "train_AddToPlaylist_full.json": "fee1b4645352e70ed8a40f1f87c3b53fc3bf75f8ebc82252a22b82c107e75b01",
            "train_BookRestaurant_full.json": "7677e82cd6e9a8191f0a4502568c786278c984900b4796d3628e46f1abf73ef4",
            "train_GetWeather_full.json": "86f414b2ad8a993134d85d16e25e5d337beae47cef993c0af2a5f440405c60f6",
            "train_PlayMusic_full.json": "901ddbe9781d1fdb8196e789c543f80df3d29ca6e237da64947905adcc0312e4",
            "train_RateBook_full.json": "bb43e4b74134300d5766f6b420d0357a63402987a225f6dc92c806c9c040ce04",
            "train_SearchCreativeWork_full.json": "87b3432de48c71c205aa5238b41d9e3f2d70bdfcd0bea2427544fb9e4bd5e5bb",
            "train_SearchScreeningEvent_full.json": "5447e9440c02e2fb08c3ae16b9f58a4d1332b4bc77fd34691402b02aa4399765",
        },
    },
    "snli_dev": {
        "repo": "OanaMariaCamburu/e-SNLI",
        "commit": "7b585a3f077fdea899780eb0473940522ae44a2e",
        "path": "dataset/eSNLI/{name}",
        "licence": "SNLI 1.0 text: CC BY-SA 4.0 (Bowman et al. 2015, SNLI site); e-SNLI repo: MIT (LICENSE)",
        "files": {
            "labels.dev": "d164d72435c3289fe53cb01e983f7c06e104bf192c0cae9caf2e99bf2e15f974",
            "s1.dev": "28a398b5478b10b4b851d4bb5b2e5767171519add6586015ed50b9436df11d00",
            "s2.dev": "a8c59709630b64ba103f7784c0cb7104a6baf23234562487264d9634714f5d2b",
        },
    },
    "mnli_dev_matched": {
        "repo": "tommccoy1/hans",
        "commit": "7299f6f657089ce06a0f98e7e81f8d0f5b7741ce",
        "path": "berts_of_a_feather/{name}",
        "licence": MNLI_TERMS,
        "files": {
            "mnli_development_set_number_of_correct_responses.txt": (
                "d4f852835e0a2b57dae7da09c23a1c2031bebe3ffea900642d91833677e18051"
            ),
        },
    },
    "mnli_train_heuristic": {
        "repo": "tommccoy1/hans",
        "commit": "7299f6f657089ce06a0f98e7e81f8d0f5b7741ce",
        "path": "{name}",
        "licence": MNLI_TERMS,
        "files": {
            "mnli_contradicting_examples": "6bb2dd7cb1f9640e53f1c75b76fef32ed392c4643f6c698292d735cc9ae4e940",
        },
    },
    "hint3": {
        "repo": "hellohaptik/HINT3",
        "commit": "99965c892ea9a6801a87083d3861b0b04c91a4e7",
        "path": "dataset/v2/train/{name}",
        "licence": "ODbL 1.0 (database) + DbCL 1.0 (contents) (LICENSE.md); not CC: check before shipping weights",
        "files": {
            "curekart_train.csv": "99620b357d20801cbbebe2823d606d1afecd9414074d97a7386aaf2493f8911f",
            "powerplay11_train.csv": "16847d06e62244ef902fe62a61261e8daec61d14335e535fcddf1752a8c8449b",
            "sofmattress_train.csv": "0addf4dc4b9df1e71509da5318d5a9f6e9a5d6eb98b9584d55cab3da7badf4b1",
        },
    },
    "nlupp": {
        "repo": "PolyAI-LDN/task-specific-datasets",
        "commit": "57ec275d8078af65b7731c2a98be812d844a6d6b",
        "path": "nlupp/data/{name}",
        "licence": "CC BY 4.0 (LICENSE at repo root; README '## License' points to it)",
        "files": {
            "banking/fold0.json": "bc9544ba197f5f073d07beab056466997ad986077d1ee46b434a251568034d0c",
            "banking/fold1.json": "ebe7cb30185e0884c9f6a20c8650636bb7ed0419d1a1a5608d63eb323f5df2ec",
            "banking/fold10.json": "a61de5477bd09ac0baa4152705be278f819de5ae60226c65c19d341b01330f6f",
            "banking/fold11.json": "cc01ca2a90f3da8c0e9d3762e59d1a84329bd357e5e9f17f490108ce5450b3a6",
            "banking/fold12.json": "d47c38523d56a9ffff0ffc1e4daa14339a6e42dfbf7b29ede030f1cc659dd612",
            "banking/fold13.json": "cb4c26ebecc7e68b8be0fafb4a691c9199fe6bb1368f0b549d29c6a1d6438fd1",
            "banking/fold14.json": "2b5350380c0d13e9cdef211a02b7406d97be2a766081bdab9beba12035948b48",
            "banking/fold15.json": "48ab8cf2a87cadfa3be845de6071f91cf22089b6618c471eceb749e6c719739e",
            "banking/fold16.json": "29e3bce3fa74908b85ee8c595b17419ae8161414cd4eb682fc41a79abe93c2bc",
            "banking/fold17.json": "4bf5dfe9d5114ef0300f970ed4c473eb7a9090900223a01af018e6a3e2a17bee",
            "banking/fold18.json": "f4f514ae92501dbe009ef639f229558d966eb63066f6273327558b51b9fcf69a",
            "banking/fold19.json": "c24f0fb42c4714d27f8639351c22df75e714e1e3e2451032d73452e4faa3942c",
            "banking/fold2.json": "9ce7cc6605cfa7dcb07be2b5f6ecb6cc075db5f344c998963a7a0be34727db99",
            "banking/fold3.json": "caff1b2b46503f85ae0ea2add66498857b341c87e87fa3dfbd3e8f12ee092fcd",
            "banking/fold4.json": "2c5121f7bcdca72c5a790b6a5ab1de6e0d89f5e9c6038bfa36507942f91aae5e",
            "banking/fold5.json": "fbc4252be25dfe5fd81b246eb51bcd9fccf509e43d29968832b99dcd0595449e",
            "banking/fold6.json": "fc2cbe872188462202f0fa4abdc4ee3bb38df130530500cb29f0c58c7f130cf1",
            "banking/fold7.json": "3029b8f9364ce6fc5ea202dc3b5d00b89a678cc90e49be0b865ace4cd944cea9",
            "banking/fold8.json": "7c76964657343991ed2d2c874db11b679b35cbe9fbf1ab05259667c02fd87335",
            "banking/fold9.json": "2d26f835b622d2c8bf83f4f29ebfc2cf5b1615f9cf7082e341f2cd77fd5d6a89",
            "hotels/fold0.json": "16724351a44b5c8b32c84a827dcd8530f4d248c6fac4d309d88fd21245fca448",
            "hotels/fold1.json": "123aeb21f3c73a47ce7df75ff28ba2cd318c9782f1c779e75e8e9322a36e68e7",
            "hotels/fold10.json": "b5ed876c74026c5be1aa6ae3956134a89894e01baa410c1ded1e52e72750839e",
            "hotels/fold11.json": "582d1de5ac593226182b5e32c146750b6678a9d6198aef4c0cdfe9ad8b077161",
            "hotels/fold12.json": "f36349037466f2cc01430fef6b39ffadb0d4222396c7beae028cf07f333f897a",
            "hotels/fold13.json": "ee9773b91c2e37ea566b4f09687b6951a5c44d36e22292cead93eb221904e06a",
            "hotels/fold14.json": "722562aa47b087cbd432930064da2e080df0ada23000783a9493786125a22dad",
            "hotels/fold15.json": "f2d34e8c75d1e49f29b905de61d6690ae6f85f4e040f6f72882e161a09e57c24",
            "hotels/fold16.json": "dac95faf7ba946819714ec5e4e3014d0cf3e054634cc10f1ac9f7693a90280cb",
            "hotels/fold17.json": "3e0a95d9c8097d40d8919b5405938c0088a80926d262f03c9234fc93a20a5d33",
            "hotels/fold18.json": "1034017ae94f7eb50ecf2cfb4ef850c53e362506b69b02ee7c99f346eec16437",
            "hotels/fold19.json": "b0140eecf03dd9e6cb251c1a4b42edff2f4ea2c74079a9988777ee7181ebb3e7",
            "hotels/fold2.json": "517732b73e40ac30993ec9ca7e7531ca2e7abac829258391961836dd7ebdc2d6",
            "hotels/fold3.json": "555561c4484df605b2d180f762559d013bc864b304a6619a172d582eff15f859",
            "hotels/fold4.json": "a6c7459c085a09646a1c77de4c70a288076d2426a7f2f15c8838dc4e3d4ee9a6",
            "hotels/fold5.json": "489b91cb4132083fc975b85cce9774602e9aa7af46db2b7561884af17e281453",
            "hotels/fold6.json": "052e52bf41f87b24c5bbf246e871f6456b105230bd84a8f7f13ff65bedcc2cad",
            "hotels/fold7.json": "aa7869f8031cd3caa94675cc92052afd8526cbaa81b400de665fb95ba4b62c6c",
            "hotels/fold8.json": "1d20d1b1b0ff349f33649d219b2359828977fd9663ba758e4e9e67672a0954a2",
            "hotels/fold9.json": "0346a8658c7e47750d7a8589cd8b3b3e22f8beed3074b6488daa4213f47b5966",
        },
    },
}

_WS = re.compile(r"\s+")


def norm(text: str) -> str:
    """NBSP -> space, whitespace runs (newlines included) -> one space, strip."""
    return _WS.sub(" ", text.replace("\u00a0", " ")).strip()


def repo_path(source: str, name: str) -> str:
    spec = SOURCES[source]
    intent = name.removeprefix("train_").removesuffix("_full.json")
    return spec["path"].format(name=name, intent=intent)


# Sources whose files are read together line by line: built only when every pinned file is present.
ALL_OR_NONE = {"snli_dev"}


def check_pins(raw: Path) -> dict[str, list[str]]:
    """Return, per source, the pinned files present under ``raw``; exit if a present file has the wrong sha256.

    A missing file is reported on stderr and skipped, so a partial raw folder still builds.
    """
    present: dict[str, list[str]] = {}
    bad = []
    for source, spec in SOURCES.items():
        names = []
        for name, want in spec["files"].items():
            path = raw / source / name
            if not path.is_file():
                print(
                    f"skipped: missing {path} ({spec['repo']}@{spec['commit'][:12]}:{repo_path(source, name)})",
                    file=sys.stderr,
                )
                continue
            got = hashlib.sha256(path.read_bytes()).hexdigest()
            if got != want:
                bad.append(f"sha256 mismatch {path}: {got} != pinned {want}")
            names.append(name)
        if source in ALL_OR_NONE and len(names) < len(spec["files"]):
            if names:
                print(f"skipped: source {source} needs all of its {len(spec['files'])} files", file=sys.stderr)
            names = []
        present[source] = names
    if bad:
        sys.exit("raw files do not match the pins:\n  " + "\n  ".join(bad))
    return present


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


# ---------------------------------------------------------------- intent sources


def read_hwu64(raw: Path, names: list[str]) -> Iterator[dict]:
    """HWU64 10-fold CV, fold 1 trainset (all rows not in fold 1's testset; the test fold is not read)."""
    for name in names:
        with (raw / "hwu64" / name).open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh, delimiter=";"):
                yield {
                    "id": f"hwu64-{row['answerid']}",
                    "text": row["answer_from_anno"],
                    "intent": f"{row['scenario']}_{row['intent']}",
                    "split": "train",
                    "answer_from_user": norm(row["answer_from_user"]),
                }


def read_massive(raw: Path, names: list[str]) -> Iterator[dict]:
    """MASSIVE 1.1 en-US train (11,514) and dev (2,033 -> split 'val'); the test split is not used."""
    for name, split in (("train.jsonl", "train"), ("validation.jsonl", "val")):
        if name not in names:
            continue
        with (raw / "massive_en_us" / name).open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    yield {
                        "id": f"massive_en_us-{row['id']}",
                        "text": row["text"],
                        "intent": row["label_text"],
                        "split": split,
                    }


def _decode_snips(data: bytes) -> str:
    # train_PlayMusic_full.json stores emoji as UTF-8-encoded UTF-16 surrogate halves (CESU-8); rejoin them.
    text = data.decode("utf-8", errors="surrogatepass")
    return text.encode("utf-16", errors="surrogatepass").decode("utf-16")


def read_snips(raw: Path, names: list[str]) -> Iterator[dict]:
    """SNIPS 2017 custom-intent benchmark, train_*_full.json; the validate_*.json files (the usual test set) unused."""
    for name in names:
        intent = name.removeprefix("train_").removesuffix("_full.json")
        data = json.loads(_decode_snips((raw / "snips" / name).read_bytes()))
        for i, item in enumerate(data[intent]):
            yield {
                "id": f"snips-{intent}-{i}",
                "text": "".join(seg["text"] for seg in item["data"]),
                "intent": intent,
                "split": "train",
            }


def read_hint3(raw: Path, names: list[str]) -> Iterator[dict]:
    """HINT3 v2 train sets of three bots; intents are bot-scoped ('curekart/CALL_CENTER'). Test sets unused."""
    for name in names:
        bot = name.removesuffix("_train.csv")
        with (raw / "hint3" / name).open(encoding="utf-8", newline="") as fh:
            for i, row in enumerate(csv.reader(fh)):
                if i == 0 or len(row) < 2 or not row[1].strip():
                    continue
                yield {
                    "id": f"hint3-{bot}-{i}",
                    "text": row[0],
                    "intent": f"{bot}/{row[1].strip()}",
                    "split": "train",
                    "bot": bot,
                }


def read_nlupp(raw: Path, names: list[str]) -> Iterator[dict]:
    """NLU++ banking + hotels, all 20 folds (no designated test split: the folds rotate in k-fold CV).

    Multi-label: the intent is the domain plus the sorted intent set ('banking/how_long+new+pin'), so two
    questions share an intent only when they carry exactly the same labels. Examples without intents are dropped.
    """
    for name in names:
        domain, fold = name.removesuffix(".json").split("/")
        for i, item in enumerate(json.loads((raw / "nlupp" / name).read_text(encoding="utf-8"))):
            labels = sorted(item.get("intents") or [])
            yield {
                "id": f"nlupp-{domain}-{fold}-{i}",
                "text": item["text"],
                "intent": f"{domain}/{'+'.join(labels)}" if labels else "",
                "split": "train",
                "intents": labels,
                "domain": domain,
                "fold": int(fold.removeprefix("fold")),
            }


def build_questions(source: str, rows: Iterable[dict], stats: dict) -> list[dict]:
    rows = [dict(r, text=norm(r["text"]), source=source) for r in rows]
    c = Counter(read=len(rows))
    rows = [r for r in rows if r["text"]]
    c["empty_dropped"] = c["read"] - len(rows)
    n = len(rows)
    rows = [r for r in rows if r["intent"]]
    c["no_intent_dropped"] = n - len(rows)
    intents_of: dict[str, set[str]] = {}
    for r in rows:
        intents_of.setdefault(r["text"].casefold(), set()).add(r["intent"])
    seen: set[str] = set()
    out = []
    for r in rows:
        key = r["text"].casefold()
        if len(intents_of[key]) > 1:
            c["ambiguous_text_dropped"] += 1
        elif key in seen:
            c["duplicate_dropped"] += 1
        else:
            seen.add(key)
            out.append(
                {k: r[k] for k in ("id", "text", "intent", "split", "source")}
                | {k: v for k, v in r.items() if k not in ("id", "text", "intent", "split", "source")}
            )
    c["kept"] = len(out)
    c["intents"] = len({r["intent"] for r in out})
    for split, n in Counter(r["split"] for r in out).items():
        c[f"split_{split}"] = n
    stats[source] = dict(c)
    return out


# ---------------------------------------------------------------- NLI pair sources


def read_snli_dev(raw: Path, names: list[str]) -> Iterator[tuple[str, str, str, str, dict]]:
    """SNLI 1.0 dev as e-SNLI's s1.dev / s2.dev / labels.dev (9,842 pairs with a gold label; tokenised)."""
    d = raw / "snli_dev"
    s1, s2, lab = ((d / n).read_text(encoding="utf-8").splitlines() for n in ("s1.dev", "s2.dev", "labels.dev"))
    if not len(s1) == len(s2) == len(lab):
        sys.exit("snli_dev: s1/s2/labels line counts differ")
    for i, (a, b, y) in enumerate(zip(s1, s2, lab, strict=True)):
        yield f"snli_dev-{i}", a, b, y.strip(), {"split": "dev"}


def read_mnli_dev_matched(raw: Path, names: list[str]) -> Iterator[tuple[str, str, str, str, dict]]:
    """MultiNLI dev_matched (9,815 pairs) from McCoy et al.'s BERT-seed file; its last column kept as metadata."""
    path = raw / "mnli_dev_matched" / "mnli_development_set_number_of_correct_responses.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        if not line:
            continue
        idx, premise, hypothesis, label, n_correct = line.split("\t")
        yield (
            f"mnli_dev_matched-{idx}",
            premise,
            hypothesis,
            label,
            {"split": "dev_matched", "bert_correct_of_100": int(n_correct)},
        )


def read_mnli_train_heuristic(raw: Path, names: list[str]) -> Iterator[tuple[str, str, str, str, dict]]:
    """The 261 MultiNLI train pairs that contradict the HANS heuristics (McCoy et al. 2019)."""
    lines = (raw / "mnli_train_heuristic" / "mnli_contradicting_examples").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.strip():
            premise, hypothesis, label = line.split("\t")
            yield f"mnli_train_heuristic-{i}", premise, hypothesis, label, {"split": "train"}


def build_nli(
    source: str, rows: Iterable[tuple[str, str, str, str, dict]], stats: dict
) -> tuple[list[dict], list[dict]]:
    pairs, entail = [], []
    c: Counter = Counter()
    seen: set[tuple[str, str, str]] = set()
    for rid, a, b, label, extra in rows:
        c["read"] += 1
        a, b, label = norm(a), norm(b), label.strip()
        if label not in ("entailment", "contradiction"):
            c[f"{label or 'no_label'}_dropped"] += 1
            continue
        if not a or not b or a == b:
            c["identical_or_empty_dropped"] += 1
            continue
        if (a, b, label) in seen:
            c["duplicate_dropped"] += 1
            continue
        seen.add((a, b, label))
        if label == "contradiction":
            pairs.append(
                {
                    "id": rid,
                    "a": a,
                    "b": b,
                    "label": 0,
                    "kind": "other",
                    "subkind": "nli_contradiction",
                    "source": source,
                }
                | extra
            )
        else:
            entail.append(
                {
                    "id": rid,
                    "a": a,
                    "b": b,
                    "label": 1,
                    "kind": "paraphrase",
                    "subkind": "nli_entailment",
                    "source": source,
                }
                | extra
            )
    c["pairs_label0"] = len(pairs)
    c["entailment_label1"] = len(entail)
    stats[source] = dict(c)
    return pairs, entail


QUESTION_SOURCES = {  # output folder -> (source, reader)
    "hwu64_train": ("hwu64", read_hwu64),
    "massive_en_us_train": ("massive_en_us", read_massive),
    "snips_train": ("snips", read_snips),
    "hint3_train": ("hint3", read_hint3),
    "nlupp_train": ("nlupp", read_nlupp),
}
NLI_SOURCES = {
    "snli_dev": ("snli_dev", read_snli_dev),
    "mnli_dev_matched": ("mnli_dev_matched", read_mnli_dev_matched),
    "mnli_train_heuristic": ("mnli_train_heuristic", read_mnli_train_heuristic),
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw", type=Path, default=Path("/work/raw"), help="folder of raw files, <raw>/<source>/<file>")
    ap.add_argument("--out", type=Path, required=True, help="output folder; one sub-folder per source")
    args = ap.parse_args(argv)
    present = check_pins(args.raw)
    stats: dict[str, dict] = {}
    for folder, (source, reader) in QUESTION_SOURCES.items():
        if not present[source]:
            print(f"skipped: {folder} (no raw files of {source})", file=sys.stderr)
            continue
        write_jsonl(
            args.out / folder / "questions.jsonl", build_questions(source, reader(args.raw, present[source]), stats)
        )
    for folder, (source, reader) in NLI_SOURCES.items():
        if not present[source]:
            print(f"skipped: {folder} (no raw files of {source})", file=sys.stderr)
            continue
        pairs, entail = build_nli(source, reader(args.raw, present[source]), stats)
        write_jsonl(args.out / folder / "pairs.jsonl", pairs)
        if entail:
            write_jsonl(args.out / folder / "entailment.jsonl", entail)
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
