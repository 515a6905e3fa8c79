"""The edge node around pua: usrloc, registrar, companions and the script as data."""

from puasim.edge.proxy import EdgeProxy, NodeConfig
from puasim.edge.script import Call, Script, ScriptError, default_script, parse_call

__all__ = ["Call", "EdgeProxy", "NodeConfig", "Script", "ScriptError", "default_script", "parse_call"]
