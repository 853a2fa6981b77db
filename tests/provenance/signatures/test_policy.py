"""Policies compose, fail closed when empty, load from JSON and refuse what they do not know."""

from __future__ import annotations

import json

import pytest

from radtrust.errors import InputError
from radtrust.provenance.signatures.policy import (
    AllOf, AllowedMacs, AnyOf, FileFacts, RequireCoverage, RequireProfile, RequireTimestamp, SignatureFacts,
    default_policy, load_policy,
)

PIXEL, SOP = 0x7FE00010, 0x00080018


def _facts(mac="SHA256", covered=(PIXEL, SOP), timestamped=False, profiles=("base",), location=""):
    return FileFacts(frozenset({PIXEL, SOP}), (SignatureFacts(location, mac, frozenset(covered), timestamped, profiles),))


def test_default_policy_accepts_full_coverage_and_refuses_gaps():
    assert default_policy().check(_facts()) == []
    assert "PixelData" in default_policy().check(_facts(covered=(SOP,)))[0]
    assert "forbids" in default_policy().check(_facts(mac="MD5"))[0]


def test_item_signatures_do_not_count_for_main_dataset_coverage():
    assert RequireCoverage().check(_facts(location="Seq[0]"))


def test_combinators():
    assert AllOf([]).check(_facts()) and AnyOf([]).check(_facts())
    either = AnyOf([RequireTimestamp(), RequireProfile("creator")])
    assert either.check(_facts())
    assert either.check(_facts(timestamped=True)) == []
    assert either.check(_facts(profiles=("base", "creator"))) == []


def test_policy_file_round_trip(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps(default_policy().to_dict()))
    loaded = load_policy(p)
    assert loaded.check(_facts()) == [] and loaded.check(_facts(mac="SHA1"))
    p.write_text(json.dumps({"mac_algorithms": ["SHA256"], "require_timestamp": True}))
    assert load_policy(p).check(_facts(timestamped=True)) == []
    assert isinstance(load_policy(p), AllOf)
    assert AllowedMacs(("SHA256",)).check(_facts(mac="SHA512"))


@pytest.mark.parametrize("bad", ['{"mac_algorithm": ["SHA256"]}', '{"mac_algorithms": ["CRC32"]}',
                                 '{"coverage": ["NotAKeyword"]}', '[1, 2]', 'not json',
                                 # shapes a fuzzer found raising TypeError / AttributeError / RecursionError
                                 '{"all_of": 5}', '{"any_of": [1]}', '{"all_of": [{"coverage": [null, 5, {"a": 1}]}]}',
                                 '{"coverage": "PixelData"}', '{"mac_algorithms": [256]}',
                                 '[' * 100_000 + ']' * 100_000, b"\xff\xfe\x00\x01"])
def test_bad_policy_files_are_bad_input(bad, tmp_path):
    p = tmp_path / "p.json"
    p.write_bytes(bad if isinstance(bad, bytes) else bad.encode())
    with pytest.raises(InputError) as info:
        load_policy(p)
    assert info.value.path == str(p) and "\n" not in str(info.value)
