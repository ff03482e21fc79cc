"""A FastAPI backend with no CORS middleware at all: behind devproxy it needs none."""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
items: list[str] = ["first item"]


class Item(BaseModel):
    name: str


@app.get("/api/items")
def list_items() -> dict[str, list[str]]:
    return {"items": items}


@app.post("/api/items", status_code=201)
def add_item(item: Item) -> dict[str, list[str]]:
    items.append(item.name)
    return {"items": items}
