"""Mapping-cache keys name what defines a layer and a design, never what a model has memoised."""

from dataclasses import replace

from sbmodel.api import map_layers, search_groups
from sbmodel.engine.sparse.density import Hypergeometric, Tile
from sbmodel.mapper.cache import MappingCache
from sbmodel.spec import load_architecture, load_workload

from ..conftest import ROOT


def test_a_density_models_memo_does_not_change_the_layer_key():
    """Hypergeometric densities memoise their distributions as they are used; the key of the
    layer they belong to must not follow (it did: in a sweep, layers of equal shape stopped
    sharing a search, and mappings cached by one point missed in the next)."""
    arch = load_architecture(ROOT / "arch_specs/eyeriss_sparse.yaml")
    layer = next(p for p in load_workload(ROOT / "workloads/resnet18_sb.yaml").problems()
                 if p.name == "layer2.1.conv1")
    cache = MappingCache()
    before = cache.key(arch, layer, objective="edp", budget=500, seed=0)
    model = layer.densities["Weights"]
    assert isinstance(model, Hypergeometric)
    model.distribution(Tile((3, 3, 8, 4)))  # fills its memo
    model.probability(Tile((12,)), 0)
    assert model._cache  # the memo really holds something now
    assert cache.key(arch, layer, objective="edp", budget=500, seed=0) == before
    # what defines the layer still changes the key
    denser = replace(layer, densities={"Weights": replace(model, density=0.9)})
    assert cache.key(arch, denser, objective="edp", budget=500, seed=0) != before


def test_layers_of_equal_shape_share_one_search_after_their_models_were_used():
    arch = load_architecture(ROOT / "arch_specs/eyeriss_sparse.yaml")
    layers = [p for p in load_workload(ROOT / "workloads/resnet18_sb.yaml").problems()
              if p.name in ("layer2.0.conv2", "layer2.1.conv1", "layer2.1.conv2")]
    # equal statistics where the search looks (the sweep sets one density for all of them)
    size = layers[0].densities["Weights"].tensor_size
    layers = [replace(p, densities={"Weights": Hypergeometric(0.31, size)}) for p in layers]
    layers[1].densities["Weights"].distribution(Tile((3, 3, 16, 8)))  # one of them was evaluated before
    assert len(search_groups(layers, arch)) == 1
    searched = []
    map_layers(layers, arch, lambda p, a: searched.append(p.name) or object(), jobs=1)
    assert searched == ["layer2.0.conv2"]


def test_a_cache_directory_kept_across_a_code_change_misses(tmp_path, monkeypatch):
    """Keys carry the search and engine code's fingerprint: after an upgrade or a local change a
    kept SBMODEL_MAPPING_CACHE directory misses (a new search) instead of returning what the
    older code found; under unchanged code it still hits."""
    import sbmodel.mapper.cache as cache_module
    from sbmodel.core import LevelMapping, Loop, Mapping

    arch = load_architecture(ROOT / "arch_specs/eyeriss_like.yaml")
    layer = load_workload(ROOT / "workloads/resnet18.yaml").problems()[-1]
    found = Mapping(tuple(LevelMapping(temporal=(Loop("M", 1000),) if i == 0 else (), keep=frozenset({"Weights"}))
                          for i in range(arch.num_levels)))
    revision = cache_module.search_revision()
    assert len(revision) == 16 and revision == cache_module.search_revision()  # computed once, stable
    MappingCache(tmp_path).put(MappingCache().key(arch, layer, objective="edp", budget=500, seed=0), found)
    kept = MappingCache(tmp_path)
    assert kept.get(kept.key(arch, layer, objective="edp", budget=500, seed=0)) == found
    monkeypatch.setattr(cache_module, "search_revision", lambda: "another revision")
    after = MappingCache(tmp_path)
    assert after.get(after.key(arch, layer, objective="edp", budget=500, seed=0)) is None
